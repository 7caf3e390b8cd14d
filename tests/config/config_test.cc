#include "config/config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace porch {
namespace {

TEST(ConfigTest, DefaultsMatchTheSeed) {
  ConfigLoader loader;
  const Config& c = loader.loaded().config;
  EXPECT_EQ(c.max_executors, 5);
  EXPECT_EQ(c.backend, "threading");
  EXPECT_EQ(c.docker.image, "parallel-orchestrator:latest");
  EXPECT_EQ(c.docker.network, "po-network");
  EXPECT_EQ(c.docker.bedrock_region, "eu-central-1");
  EXPECT_EQ(c.docker.bedrock_model, "global.anthropic.claude-sonnet-4-5-20250929-v1:0");
  EXPECT_EQ(c.aws.region, "eu-central-1");
  EXPECT_TRUE(loader.Check().ok());
}

TEST(ConfigTest, PrecedenceDefaultsFileEnvFlags) {
  ConfigLoader loader;
  ASSERT_TRUE(loader.ApplyText("max_executors: 7\nbackend: slurm\nretry:\n  max_retries: 4\n"
                               "  jitter: 0.5\n",
                               "porch.yaml")
                  .ok());
  ASSERT_TRUE(loader.ApplyEnv({{"PORCH_MAX_EXECUTORS", "9"},
                               {"PORCH_RETRY_MAX_RETRIES", "6"},
                               {"PORCH_UNRELATED", "x"}})
                  .ok());
  ASSERT_TRUE(loader.ApplyFlag("max_executors", "11", "--max-executors").ok());
  const LoadedConfig& l = loader.loaded();
  EXPECT_EQ(l.config.max_executors, 11);
  EXPECT_EQ(l.sources.at("max_executors").kind, "flag");
  EXPECT_EQ(l.config.retry.max_retries, 6);
  EXPECT_EQ(l.sources.at("retry.max_retries").kind, "env");
  EXPECT_EQ(l.sources.at("retry.max_retries").detail, "PORCH_RETRY_MAX_RETRIES");
  EXPECT_EQ(l.config.backend, "slurm");
  EXPECT_EQ(l.sources.at("backend").kind, "file");
  EXPECT_EQ(l.sources.at("backend").detail, "porch.yaml:2");
  EXPECT_DOUBLE_EQ(l.config.retry.jitter, 0.5);
  EXPECT_EQ(l.sources.at("retry.retry_delay_seconds").kind, "default");
}

TEST(ConfigTest, UnknownKeysNameTheKeyAndLine) {
  ConfigLoader a;
  Status st = a.ApplyText("max_executor: 3\n", "c.yaml");
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("c.yaml:1: unknown key 'max_executor'"), std::string::npos) << st.message();

  ConfigLoader b;
  st = b.ApplyText("retry:\n  max_retries: 1\n  backof: 2\n", "c.yaml");
  EXPECT_NE(st.message().find("c.yaml:3: unknown key 'retry.backof' in section 'retry'"),
            std::string::npos)
      << st.message();

  ConfigLoader c;
  st = c.ApplyText("kubernetes:\n  x: 1\n", "c.yaml");
  EXPECT_NE(st.message().find("unknown section 'kubernetes'"), std::string::npos) << st.message();
}

TEST(ConfigTest, BadValuesAreErrors) {
  ConfigLoader a;
  Status st = a.ApplyText("max_executors: many\n", "c.yaml");
  EXPECT_NE(st.message().find("'max_executors' must be an integer, found 'many'"), std::string::npos)
      << st.message();
  ConfigLoader b;
  st = b.ApplyEnv({{"PORCH_FAIL_FAST", "perhaps"}});
  EXPECT_NE(st.message().find("PORCH_FAIL_FAST"), std::string::npos) << st.message();
  ConfigLoader c;
  ASSERT_TRUE(c.ApplyFlag("max_executors", "0", "-j").ok());
  EXPECT_NE(c.Check().message().find("max_executors must be from 1"), std::string::npos);
  ConfigLoader d;
  ASSERT_TRUE(d.ApplyFlag("backend", "kubernetes", "--backend").ok());
  EXPECT_NE(d.Check().message().find("unknown backend 'kubernetes'"), std::string::npos);
  ConfigLoader e;
  EXPECT_NE(e.ApplyFlag("nope", "1", "--set").message().find("unknown configuration key 'nope'"),
            std::string::npos);
}

TEST(ConfigTest, QueueSettingsThatCannotWorkAreRefused) {
  ConfigLoader grace;
  ASSERT_TRUE(grace.ApplyFlag("backend", "queue", "--backend").ok());
  ASSERT_TRUE(grace.ApplyFlag("kill_grace_seconds", "20", "--set").ok());
  EXPECT_NE(grace.Check().message().find("under a third of queue.visibility_timeout (30)"), std::string::npos)
      << grace.Check().message();
  ConfigLoader isolate;
  ASSERT_TRUE(isolate.ApplyFlag("merge.isolate_commands", "sometimes", "--set").ok());
  EXPECT_NE(isolate.Check().message().find("auto, true or false"), std::string::npos);
  ConfigLoader fine;
  ASSERT_TRUE(fine.ApplyFlag("backend", "queue", "--backend").ok());
  EXPECT_TRUE(fine.Check().ok()) << fine.Check().message();
  EXPECT_EQ(fine.loaded().config.merge.isolate_commands, "auto");
  // Once a boolean: its spellings still mean the same.
  for (const char* yes : {"yes", "On", "1", "TRUE"}) {
    ConfigLoader l;
    ASSERT_TRUE(l.ApplyFlag("merge.isolate_commands", yes, "--set").ok());
    EXPECT_EQ(l.loaded().config.merge.isolate_commands, "true") << yes;
  }
  ConfigLoader no;
  ASSERT_TRUE(no.ApplyEnv({{"PORCH_MERGE_ISOLATE_COMMANDS", "off"}}).ok());
  EXPECT_EQ(no.loaded().config.merge.isolate_commands, "false");
}

TEST(ConfigTest, SecretsAreRedacted) {
  ConfigLoader loader;
  ASSERT_TRUE(loader.ApplyEnv({{"PORCH_LLM_API_KEY", "sk-very-secret"}}).ok());
  EXPECT_EQ(loader.loaded().config.llm.api_key, "sk-very-secret");
  std::string text = FormatConfig(loader.loaded());
  std::string json = FormatConfigJson(loader.loaded());
  EXPECT_EQ(text.find("sk-very-secret"), std::string::npos);
  EXPECT_EQ(json.find("sk-very-secret"), std::string::npos);
  EXPECT_NE(text.find("llm.api_key = <redacted>"), std::string::npos);
  EXPECT_NE(text.find("# env PORCH_LLM_API_KEY"), std::string::npos);
}

TEST(ConfigTest, FormatShowsEveryKeyWithItsSource) {
  ConfigLoader loader;
  ASSERT_TRUE(loader.ApplyFlag("fail_fast", "yes", "--fail-fast").ok());
  nlohmann::json j = nlohmann::json::parse(FormatConfigJson(loader.loaded()));
  EXPECT_EQ(j["fail_fast"]["value"], "true");
  EXPECT_EQ(j["fail_fast"]["source"], "flag");
  EXPECT_EQ(j["max_executors"]["source"], "default");
  EXPECT_EQ(j.size(), ConfigKeys().size());
  EXPECT_EQ(EnvNameForKey("retry.max_retries"), "PORCH_RETRY_MAX_RETRIES");
}

TEST(ConfigTest, EmptyFileIsFine) {
  ConfigLoader loader;
  EXPECT_TRUE(loader.ApplyText("", "empty.yaml").ok());
  EXPECT_FALSE(loader.ApplyText("[1, 2]", "list.yaml").ok());
}

}  // namespace
}  // namespace porch
