// Creates the configured LlmClient: the Anthropic API (key from
// ANTHROPIC_API_KEY or llm.api_key) or Bedrock (credentials from the standard
// AWS chain). Missing credentials are a NotFound error that says where porch
// looked.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "config/config.h"
#include "llm/llm_client.h"
#include "platform/clock.h"
#include "platform/http.h"

namespace porch {

Result<std::unique_ptr<LlmClient>> CreateLlmClient(const Config& config,
                                                   const std::map<std::string, std::string>& env,
                                                   const std::string& home, HttpClient* http,
                                                   Clock* clock);

// Resolves, once, the LLM endpoint and credentials that the planner and
// every agent use, with porch's one precedence rule (flags > environment >
// config file > defaults): llm.api_key set by --set or PORCH_LLM_API_KEY
// beats ANTHROPIC_API_KEY, which beats llm.api_key from a file; the same for
// llm.base_url and ANTHROPIC_BASE_URL. The result is written into both
// `config` (llm.api_key, llm.base_url) and `env` (ANTHROPIC_API_KEY,
// ANTHROPIC_BASE_URL), which is what backends hand to attempts, so the
// Claude Code CLI, porch's API agent and the planner cannot disagree. For
// Bedrock (llm.provider or docker.use_bedrock), credentials found only in
// AWS profile files are resolved here and put into `env` as
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, since
// agents run with a HOME of their own. Nothing is written to disk. Missing
// credentials are not an error here (the run may need none).
// llm.api_key_file ranks by where it was named (a flag beats the
// environment, PORCH_LLM_API_KEY_FILE beats ANTHROPIC_API_KEY, which beats
// the config file); when it wins the key is read from it (see ReadKeyFile)
// and the path stays in the config, so SLURM nodes read the file themselves;
// when it loses it is cleared from the config.
// InvalidArgument when the key file is unusable.
// `ask_instance_metadata` false leaves the EC2 metadata service out (an
// attempt's own process: its API agent asks when it makes its client).
Status ResolveLlmAccess(LoadedConfig* config, std::map<std::string, std::string>* env,
                        const std::string& home, bool ask_instance_metadata = true);

// The key in `path`: a regular file owned by this user and readable by no
// one else (mode 0600 or 0400), surrounding whitespace removed, not empty.
Result<std::string> ReadKeyFile(const std::string& path);

// The price table entry for the configured model (llm.price overrides it).
Result<ModelPrice> ConfiguredPrice(const Config& config);

}  // namespace porch
