// porch's configuration: the seed's OrchestratorConfig with its sections.
//
// Values come in layers, each overriding the one before:
//   built-in defaults < config file (--config, or ./porch.yaml) <
//   environment (PORCH_<SECTION>_<KEY>, e.g. PORCH_RETRY_MAX_RETRIES) <
//   command-line flags.
// The loader records where each value came from, for `porch config show`.
// Every key has one entry in the field table (config.cc), which drives the
// file reader, the environment, `--set key=value`, and the printer alike.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace porch {

struct RetryConfig {
  int max_retries = 2;                // attempts after the first
  double retry_delay_seconds = 1.0;   // first backoff
  bool exponential_backoff = true;
  double backoff_multiplier = 2.0;
  double max_delay_seconds = 300.0;   // cap on one backoff
  double jitter = 0.1;                // +/- fraction of the delay, randomised
};

struct DockerConfig {
  std::string image = "parallel-orchestrator:latest";
  std::string network = "po-network";
  std::string host;                   // default: DOCKER_HOST or the standard socket
  bool use_bedrock = false;
  std::string bedrock_region = "eu-central-1";
  // Agents' Bedrock model in containers when changed from this default
  // (the seed's); otherwise llm.bedrock_model.
  std::string bedrock_model = "global.anthropic.claude-sonnet-4-5-20250929-v1:0";
  bool planner_in_docker = false;
  std::string porch_path = "/usr/local/bin/porch";  // porch inside the image
  std::string claude_path = "claude";  // the Claude Code CLI inside the image
  std::string build_context;          // build the image from here when it is missing
  std::string dockerfile = "Dockerfile";  // its path inside build_context
  std::string planner_network = "host";   // planner container's network (reaches the LLM)
  double oom_memory_factor = 2;       // OOM-killed: next attempt gets this much more memory
  std::string max_memory = "64G";     // ... up to this
  double engine_wait_seconds = 120;   // an unreachable engine is waited for this long
  // Seconds between looks at the run's containers: the backstop while the
  // engine's events are followed (at least 2), the pace when they are not.
  double poll_seconds = 0.2;
};

struct SlurmConfig {
  std::string partition;              // empty: the cluster's default
  std::string time_limit = "01:00:00";
  std::string memory = "4G";
  int cpus_per_task = 1;
  int gpus_per_task = 0;
  std::string gpu_partition = "gpu";
  double poll_interval_seconds = 5.0;
  std::string extra_args;             // passed to sbatch as-is (account, qos, ...)
  std::string porch_path;             // porch on the nodes; empty: this binary's path
  std::string claude_path;            // the Claude Code CLI on the nodes; empty: agent.claude_path
  bool arrays = true;                 // ready tasks with equal resources: one job array
  int max_array_size = 1000;          // elements per array (the cluster's MaxArraySize - 1)
  std::string dependencies = "porch"; // porch: submit when deps succeeded; slurm: afterok holds
  std::string max_memory = "64G";     // OUT_OF_MEMORY retries double memory up to this
  std::string max_time_limit = "2-00:00:00";  // TIMEOUT retries double time up to this
  std::string export_env = "ALL";     // sbatch --export: how credentials reach jobs
  double result_grace_seconds = 30;   // wait this long for a result file on shared storage
  double command_timeout_seconds = 60;  // one sbatch/squeue/... call
  std::string bin_dir;                // where sbatch & co live; empty: PATH
};

struct AwsConfig {
  std::string cluster_name;
  std::string region = "eu-central-1";
  std::string s3_bucket;
  std::string s3_prefix = "porch";
  std::string endpoint;               // S3-compatible endpoint override
};

struct QueueConfig {
  std::string url = "redis://127.0.0.1:6379/0";  // the Redis the workers read (redis://[:pw@]host:port/db)
  std::string password_file;          // a file holding the password (else PORCH_QUEUE_PASSWORD)
  std::string prefix = "porch";       // key prefix: workers and porch must agree
  double visibility_timeout = 30;     // a claimed attempt without a heartbeat this long is reclaimed
  double poll_seconds = 0.1;          // longest wait of one read of the result stream
  double wait_seconds = 120;          // how long Redis may be gone before the run stops
  double timeout_seconds = 10;        // connecting, and one command
  std::string staging = "shared";     // shared: workers see the run directory (NFS)
};

struct LlmConfig {
  std::string provider = "anthropic";  // anthropic | bedrock
  std::string model = "claude-sonnet-4-5";
  std::string api_key;                 // secret; prefer ANTHROPIC_API_KEY
  std::string api_key_file;            // a file holding the key, readable only by its owner
  std::string base_url;                // override for tests / proxies (or ANTHROPIC_BASE_URL)
  std::string region = "eu-central-1"; // Bedrock region
  std::string bedrock_model = "global.anthropic.claude-sonnet-4-5-20250929-v1:0";
  std::string bedrock_endpoint;        // override (tests, VPC endpoints)
  double timeout_seconds = 300;        // one request
  int max_attempts = 5;                // per request, including retries
  double retry_base_seconds = 1;       // first backoff (jittered, doubled each time)
  double max_retry_seconds = 180;      // no new attempt after this long
  std::string price;                   // "in,out,cache_write,cache_read" USD/Mtok; "" built-in
};

struct PlannerConfig {
  int min_tasks = 1;
  int max_tasks = 12;
  int max_attempts = 3;                // plan answers tried before giving up
};

struct AgentConfig {
  std::string executor = "claude-cli";   // claude-cli | api
  std::string claude_path = "claude";
  std::string model;                     // empty: the executor's default
  int max_turns = 30;
  int max_tokens = 8192;                 // API agent: output tokens per answer at first
  int max_tokens_limit = 64000;          // API agent: raised to this for a cut-off tool call
  double max_budget_usd = 0;             // per attempt (claude-cli); 0: none
  std::string permission_mode = "acceptEdits";
  std::string allowed_tools;
  bool run_command_tool = false;
  int acceptance_rounds = 2;
};

struct BudgetConfig {
  double usd = 0;        // run-wide; 0: none
  double tokens = 0;     // run-wide; 0: none
};

struct MergeConfig {
  std::string conflict_policy = "fail";  // fail | keep-later
  bool git = true;                       // commit each merged task in output/
  // Command tasks too run in a workspace of their own (seeded with output/)
  // and reach output/ only through the merge, like AI tasks: "true",
  // "false", or "auto" (the default): when the plan has AI tasks, whose
  // merged files a command must not overwrite unseen. A plan of commands
  // only runs them in output/ directly, as make does: the copy per attempt
  // costs what the local backend's speed cannot afford.
  std::string isolate_commands = "auto";
  // Whether command tasks are isolated in a run whose plan has AI tasks or not.
  bool IsolatesCommands(bool plan_has_agents) const {
    return isolate_commands == "true" || (isolate_commands == "auto" && plan_has_agents);
  }
};

struct LimitsConfig {
  std::string max_plan_bytes = "256M";   // larger plan files are refused
  std::string max_output_bytes = "1G";   // each of an attempt's stdout and stderr
};

struct Config {
  std::string requirements;
  std::string output_dir = "porch-runs";
  int max_executors = 5;
  std::string backend = "threading";   // threading | docker | slurm | aws | queue
  bool fail_fast = false;
  double default_time_limit_seconds = 0;  // 0: none
  double kill_grace_seconds = 5;       // SIGTERM -> SIGKILL
  DockerConfig docker;
  SlurmConfig slurm;
  AwsConfig aws;
  QueueConfig queue;
  RetryConfig retry;
  LlmConfig llm;
  PlannerConfig planner;
  AgentConfig agent;
  BudgetConfig budget;
  MergeConfig merge;
  LimitsConfig limits;
};

// Where a value came from.
struct ConfigSource {
  std::string kind;    // "default" | "file" | "env" | "flag"
  std::string detail;  // file:line, variable name, flag
};

struct LoadedConfig {
  Config config;
  std::map<std::string, ConfigSource> sources;  // by dotted key
};

class ConfigLoader {
 public:
  // Starts from the built-in defaults.
  ConfigLoader();

  // Applies a YAML (or JSON) config file. Unknown keys and bad values are
  // InvalidArgument naming the file, line and key. `kind` is the source kind
  // its values get: "file", or "run" for a run's own config.json, whose
  // values were resolved at the run's start and rank like flags (above the
  // environment; flags given now still beat them).
  Status ApplyFile(const std::string& path, const std::string& kind = "file");
  Status ApplyText(const std::string& text, const std::string& source, const std::string& kind = "file");

  // Applies PORCH_* variables from `env` (name -> value). Unknown PORCH_*
  // names are ignored: the environment is shared with other programs.
  Status ApplyEnv(const std::map<std::string, std::string>& env);

  // Applies one "key=value" from the command line (--set, or a named flag).
  Status ApplyFlag(const std::string& key, const std::string& value, const std::string& flag);

  // Cross-field checks (e.g. max_executors >= 1, backend known).
  Status Check() const;

  const LoadedConfig& loaded() const { return loaded_; }

 private:
  Status Set(const std::string& key, const std::string& value, ConfigSource source);
  LoadedConfig loaded_;
};

// The environment as a map, from environ.
std::map<std::string, std::string> CurrentEnvironment();

// Variables that carry the secrets porch resolves (LLM keys, AWS
// credentials): handed to the planner and agents wherever they run, never to
// plain command tasks, never written to disk.
const std::vector<std::string>& SecretVariables();
// What the LLM clients read besides secrets (endpoints, regions, profile):
// handed on with the secrets.
const std::vector<std::string>& LlmVariables();
// The proxy settings libcurl and the Claude Code CLI read (HTTPS_PROXY,
// HTTP_PROXY, NO_PROXY, ALL_PROXY, in both cases): handed to containers with
// the LLM variables, and to every process the CLI executor starts. Not
// secrets to porch, though a proxy URL may carry a password: like the
// secrets, never written to disk.
const std::vector<std::string>& ProxyVariables();

// One line per key: "key = value  # source". Secrets print as "<redacted>".
std::string FormatConfig(const LoadedConfig& loaded);
// The same as a JSON object {key: {value, source}}.
std::string FormatConfigJson(const LoadedConfig& loaded);

// Every dotted key, with a one-line description (for --help and docs).
std::vector<std::pair<std::string, std::string>> ConfigKeys();

// Name of the environment variable for a dotted key.
std::string EnvNameForKey(const std::string& key);

}  // namespace porch
