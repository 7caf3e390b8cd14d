// Checks the backend factory makes before anything starts (pure).
#include "backend/factory.h"

#include <gtest/gtest.h>

namespace porch {
namespace {

TEST(BackendFactoryTest, LoopbackUrlsAreRecognised) {
  for (const char* url : {"http://127.0.0.1:8080", "http://localhost", "https://LOCALHOST:1/v1",
                          "http://[::1]:9/", "http://127.3.4.5", "http://user@127.0.0.1:80",
                          "http://api.localhost:80", "http://localhost.:8080/", "http://0.0.0.0:9",
                          "http://[::ffff:127.0.0.1]:80", "http://[::]:80", "http://127.1:80",
                          "http://2130706433/", "http://[::1%25lo]:80", "http://[::ffff:0.0.0.0]/"}) {
    EXPECT_TRUE(IsLoopbackUrl(url)) << url;
  }
  for (const char* url : {"https://api.anthropic.com", "http://10.0.0.2:8080", "http://172.17.0.1",
                          "http://localhost.example.com", "http://[2001:db8::1]:80",
                          "http://127.evil.example/", "http://127.0.0.1.nip.io:80",
                          "http://evil.example?next=@127.0.0.1", "http://evil.example#@localhost",
                          "http://[::ffff:10.0.0.1]:80", "http://[::1", "http://1270.0.0.1/"}) {
    EXPECT_FALSE(IsLoopbackUrl(url)) << url;
  }
}

TEST(BackendFactoryTest, OnlyAgentsInBridgedContainersNeedAReachableEndpoint) {
  Plan commands, agents;
  commands.tasks.emplace_back().command = "true";
  agents.tasks.emplace_back().prompt = "write";
  Config c;
  c.backend = "docker";
  c.llm.base_url = "http://127.0.0.1:8080";
  Status refused = CheckAgentEndpoint(c, agents);
  EXPECT_EQ(refused.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(refused.message().find("docker.network=host"), std::string::npos) << refused.message();
  EXPECT_TRUE(CheckAgentEndpoint(c, commands).ok());  // commands need no endpoint
  c.llm.base_url = "http://user:s3cret@127.0.0.1:8080/v1";
  Status shown = CheckAgentEndpoint(c, agents);
  EXPECT_FALSE(shown.ok());
  EXPECT_EQ(shown.message().find("s3cret"), std::string::npos) << shown.message();
  EXPECT_NE(shown.message().find("http://127.0.0.1:8080/v1"), std::string::npos) << shown.message();
  c.docker.network = "host";
  EXPECT_TRUE(CheckAgentEndpoint(c, agents).ok());
  c.docker.network = "bridge";
  c.backend = "threading";
  EXPECT_TRUE(CheckAgentEndpoint(c, agents).ok());  // local agents share the host's loopback
  c.backend = "docker";
  c.llm.provider = "bedrock";
  c.llm.bedrock_endpoint = "http://localhost:4566";
  EXPECT_FALSE(CheckAgentEndpoint(c, agents).ok());
}

}  // namespace
}  // namespace porch
