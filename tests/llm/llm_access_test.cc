// ResolveLlmAccess: one endpoint and key for the planner and every agent,
// by porch's precedence rule (flags > environment > config file).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llm/factory.h"
#include "platform/files.h"
#include "test_util.h"

namespace porch {
namespace {

LoadedConfig Load(const std::string& file_text, const std::map<std::string, std::string>& env,
                  const std::vector<std::pair<std::string, std::string>>& flags = {}) {
  ConfigLoader loader;
  if (!file_text.empty()) {
    EXPECT_TRUE(loader.ApplyText(file_text, "porch.yaml").ok());
  }
  EXPECT_TRUE(loader.ApplyEnv(env).ok());
  for (const auto& [k, v] : flags) EXPECT_TRUE(loader.ApplyFlag(k, v, "--set").ok());
  return loader.loaded();
}

TEST(LlmAccessTest, OnePrecedenceRuleForKeyAndEndpoint) {
  const std::string file = "llm:\n  api_key: sk-file\n  base_url: http://file\n";
  {  // the file alone: it is used, and handed on as the variables agents read
    std::map<std::string, std::string> env;
    LoadedConfig c = Load(file, env);
    ASSERT_TRUE(ResolveLlmAccess(&c, &env, "").ok());
    EXPECT_EQ(c.config.llm.api_key, "sk-file");
    EXPECT_EQ(env["ANTHROPIC_API_KEY"], "sk-file");
    EXPECT_EQ(env["ANTHROPIC_BASE_URL"], "http://file");
  }
  {  // the environment beats the file
    std::map<std::string, std::string> env = {{"ANTHROPIC_API_KEY", "sk-env"},
                                              {"ANTHROPIC_BASE_URL", "http://env"}};
    LoadedConfig c = Load(file, env);
    ASSERT_TRUE(ResolveLlmAccess(&c, &env, "").ok());
    EXPECT_EQ(c.config.llm.api_key, "sk-env");
    EXPECT_EQ(c.config.llm.base_url, "http://env");
    EXPECT_EQ(env["ANTHROPIC_API_KEY"], "sk-env");
  }
  {  // porch's own variable beats the generic one; a flag beats both
    std::map<std::string, std::string> env = {{"ANTHROPIC_API_KEY", "sk-env"},
                                              {"PORCH_LLM_API_KEY", "sk-porch"}};
    LoadedConfig c = Load(file, env);
    ASSERT_TRUE(ResolveLlmAccess(&c, &env, "").ok());
    EXPECT_EQ(env["ANTHROPIC_API_KEY"], "sk-porch");
    std::map<std::string, std::string> env2 = env;
    LoadedConfig f = Load(file, env2, {{"llm.api_key", "sk-flag"}});
    ASSERT_TRUE(ResolveLlmAccess(&f, &env2, "").ok());
    EXPECT_EQ(env2["ANTHROPIC_API_KEY"], "sk-flag");
    EXPECT_EQ(f.config.llm.api_key, "sk-flag");
  }
}

TEST(LlmAccessTest, BedrocksRegionAndEndpointAreTheConfigsAlone) {
  // The planner and every agent use llm.region and llm.bedrock_endpoint (the
  // CLI is handed them, ClaudeArgvTest): AWS_REGION is left to what else
  // reads it (S3's aws.region, the tasks' own aws CLI) and is not changed.
  const std::string file = "llm:\n  provider: bedrock\n  region: eu-west-1\n  bedrock_endpoint: http://file\n";
  std::map<std::string, std::string> env = {{"AWS_ACCESS_KEY_ID", "AK"}, {"AWS_SECRET_ACCESS_KEY", "S"},
                                            {"AWS_REGION", "us-west-2"}, {"ANTHROPIC_BEDROCK_BASE_URL", "http://env"}};
  LoadedConfig c = Load(file, env, {{"llm.region", "ap-south-1"}});
  ASSERT_TRUE(ResolveLlmAccess(&c, &env, "").ok());
  EXPECT_EQ(c.config.llm.region, "ap-south-1");
  EXPECT_EQ(c.config.llm.bedrock_endpoint, "http://file");
  EXPECT_EQ(env["AWS_REGION"], "us-west-2");
}

TEST(LlmAccessTest, BedrockProfileCredentialsBecomeVariables) {
  TempDir home;
  ASSERT_TRUE(MakeDirs(home.path() + "/.aws").ok());
  ASSERT_TRUE(WriteFileAtomic(home.path() + "/.aws/credentials",
                              "[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = s3cret\n"
                              "aws_session_token = tok\n").ok());
  std::map<std::string, std::string> env = {{"AWS_PROFILE", "dev"}};
  LoadedConfig c = Load("llm:\n  provider: bedrock\n", env);
  ASSERT_TRUE(ResolveLlmAccess(&c, &env, home.path()).ok());
  EXPECT_EQ(env["AWS_ACCESS_KEY_ID"], "AKIDDEV");
  EXPECT_EQ(env["AWS_SECRET_ACCESS_KEY"], "s3cret");
  EXPECT_EQ(env["AWS_SESSION_TOKEN"], "tok");
  EXPECT_EQ(env.count("AWS_PROFILE"), 0u);  // SDKs skip keys in the environment when a profile is named
  // Keys already in the environment are left as they are.
  std::map<std::string, std::string> given = {
      {"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_SECRET_ACCESS_KEY", "env-secret"}, {"AWS_PROFILE", "dev"}};
  ASSERT_TRUE(ResolveLlmAccess(&c, &given, home.path()).ok());
  EXPECT_EQ(given["AWS_ACCESS_KEY_ID"], "AKIDENV");
  EXPECT_EQ(given["AWS_SECRET_ACCESS_KEY"], "env-secret");
  // Half a pair is no pair: the profile's whole pair is used instead.
  std::map<std::string, std::string> half = {{"AWS_ACCESS_KEY_ID", "AKIDENV"}, {"AWS_PROFILE", "dev"}};
  ASSERT_TRUE(ResolveLlmAccess(&c, &half, home.path()).ok());
  EXPECT_EQ(half["AWS_ACCESS_KEY_ID"], "AKIDDEV");
  EXPECT_EQ(half["AWS_SECRET_ACCESS_KEY"], "s3cret");
}

TEST(LlmAccessTest, AKeyFileReadableOnlyByItsOwnerGivesTheKey) {
  TempDir dir;
  const std::string path = dir.path() + "/anthropic.key";
  ASSERT_TRUE(WriteFileAtomic(path, "  sk-from-file\n").ok());
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  std::map<std::string, std::string> env;
  LoadedConfig c = Load("llm:\n  api_key_file: " + path + "\n", env);
  ASSERT_TRUE(ResolveLlmAccess(&c, &env, "").ok());
  EXPECT_EQ(env["ANTHROPIC_API_KEY"], "sk-from-file");
  // A key from the environment wins; the file is not even read.
  std::map<std::string, std::string> given = {{"ANTHROPIC_API_KEY", "sk-env"}};
  LoadedConfig g = Load("llm:\n  api_key_file: /nonexistent\n", given);
  ASSERT_TRUE(ResolveLlmAccess(&g, &given, "").ok());
  EXPECT_EQ(given["ANTHROPIC_API_KEY"], "sk-env");
  // Readable by others: refused, saying how to fix it.
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  std::map<std::string, std::string> env2;
  LoadedConfig o = Load("llm:\n  api_key_file: " + path + "\n", env2);
  Status st = ResolveLlmAccess(&o, &env2, "");
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("chmod 600"), std::string::npos) << st.message();
  EXPECT_EQ(env2.count("ANTHROPIC_API_KEY"), 0u);
  // A link, an empty file, a missing file: each a clear error.
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  ASSERT_EQ(symlink(path.c_str(), (dir.path() + "/link.key").c_str()), 0);
  EXPECT_FALSE(ReadKeyFile(dir.path() + "/link.key").ok());
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/empty.key", "\n").ok());
  ASSERT_EQ(chmod((dir.path() + "/empty.key").c_str(), 0600), 0);
  EXPECT_NE(ReadKeyFile(dir.path() + "/empty.key").status().message().find("is empty"), std::string::npos);
  EXPECT_FALSE(ReadKeyFile(dir.path() + "/missing.key").ok());
}

TEST(LlmAccessTest, AKeyFileRanksByWhereItWasNamed) {
  TempDir dir;
  const std::string path = dir.path() + "/k";
  ASSERT_TRUE(WriteFileAtomic(path, "sk-file\n").ok());
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  auto resolve = [&](const std::string& yaml, std::map<std::string, std::string> env,
                     std::vector<std::pair<std::string, std::string>> flags = {}) {
    LoadedConfig c = Load(yaml, env, flags);
    EXPECT_TRUE(ResolveLlmAccess(&c, &env, "").ok());
    return env["ANTHROPIC_API_KEY"];
  };
  // Named on the command line: beats the shell's ANTHROPIC_API_KEY.
  EXPECT_EQ(resolve("", {{"ANTHROPIC_API_KEY", "sk-shell"}}, {{"llm.api_key_file", path}}), "sk-file");
  // PORCH_LLM_API_KEY_FILE beats ANTHROPIC_API_KEY, as PORCH_LLM_API_KEY does.
  EXPECT_EQ(resolve("", {{"ANTHROPIC_API_KEY", "sk-shell"}, {"PORCH_LLM_API_KEY_FILE", path}}), "sk-file");
  // In porch.yaml: the shell's key wins, as over llm.api_key in porch.yaml.
  EXPECT_EQ(resolve("llm:\n  api_key_file: " + path + "\n", {{"ANTHROPIC_API_KEY", "sk-shell"}}), "sk-shell");
  // A flag's key beats an environment key file.
  EXPECT_EQ(resolve("", {{"PORCH_LLM_API_KEY_FILE", path}}, {{"llm.api_key", "sk-flag"}}), "sk-flag");
}

TEST(LlmAccessTest, AKeyFileIsReadOnceThroughItsCheckedDescriptor) {
  TempDir dir;
  const std::string fifo = dir.path() + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  Result<std::string> r = ReadKeyFile(fifo);  // never blocks waiting for a writer
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a regular file"), std::string::npos) << r.status().message();
  const std::string two = dir.path() + "/two";
  ASSERT_TRUE(WriteFileAtomic(two, "sk-one\nsk-two\n").ok());
  ASSERT_EQ(chmod(two.c_str(), 0600), 0);
  EXPECT_FALSE(ReadKeyFile(two).ok());  // a newline would end up inside the header
}

}  // namespace
}  // namespace porch
