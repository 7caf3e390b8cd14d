#include "backend/factory.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cctype>

#include "backend/aws/aws_backend.h"
#include "backend/docker/docker_backend.h"
#include "backend/local/local_backend.h"
#include "backend/queue/queue_backend.h"
#include "backend/slurm/slurm_backend.h"

namespace porch {

Result<std::unique_ptr<Backend>> CreateBackend(const Config& config, const RunLayout& layout,
                                               const RunIdentity& identity, Clock* clock,
                                               const std::map<std::string, std::string>& env) {
  if (config.backend == "threading" || config.backend == "local") {
    LocalBackendOptions options;
    // The spawner reads the run's config.json; the key porch resolved (from
    // --set or porch.yaml too) reaches it as ANTHROPIC_API_KEY in `env`,
    // never through a file.
    options.env = env;
    options.slots = config.max_executors;
    return std::unique_ptr<Backend>(std::make_unique<LocalBackend>(layout, clock, options));
  }
  if (config.backend == "docker") {
    return CreateDockerBackend(config, layout, identity, clock, env);
  }
  if (config.backend == "slurm") {
    return CreateSlurmBackend(config, layout, identity, clock, env);
  }
  if (config.backend == "aws") {
    return CreateAwsBackend(config, layout, identity, clock, env);
  }
  if (config.backend == "queue") {
    return CreateQueueBackend(config, layout, identity, clock, env);
  }
  return Status::InvalidArgument("unknown backend '" + config.backend +
                                 "' (known: threading, docker, slurm, aws, queue)");
}

bool IsLoopbackUrl(const std::string& url) {
  size_t start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  // The authority ends at the path, the query or the fragment; what an '@'
  // after that ends is not a host.
  std::string host = url.substr(start, url.find_first_of("/?#", start) - start);
  if (size_t at = host.rfind('@'); at != std::string::npos) host = host.substr(at + 1);
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    if (close == std::string::npos) return false;
    host = host.substr(1, close - 1);
    if (size_t zone = host.find('%'); zone != std::string::npos) host.resize(zone);
    in6_addr a6;
    if (inet_pton(AF_INET6, host.c_str(), &a6) != 1) return false;
    // ::1, :: (this host) and IPv4-mapped loopback or 0.0.0.0.
    if (IN6_IS_ADDR_LOOPBACK(&a6) || IN6_IS_ADDR_UNSPECIFIED(&a6)) return true;
    if (!IN6_IS_ADDR_V4MAPPED(&a6)) return false;
    return a6.s6_addr[12] == 127 || (a6.s6_addr[12] | a6.s6_addr[13] | a6.s6_addr[14] | a6.s6_addr[15]) == 0;
  }
  if (size_t colon = host.find(':'); colon != std::string::npos) host.resize(colon);
  for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!host.empty() && host.back() == '.') host.pop_back();  // "localhost." is absolute
  if (host == "localhost" || (host.size() > 10 && host.compare(host.size() - 10, 10, ".localhost") == 0)) {
    return true;
  }
  // An IPv4 address in any form the resolver accepts ("127.1", "2130706433",
  // "0x7f.1"): 127/8, and 0.0.0.0, which a client reaches as this host.
  // A name that merely starts with "127." is not an address.
  if (host.empty() || host.find_first_not_of("0123456789abcdefx.") != std::string::npos) return false;
  in_addr a4;
  if (inet_aton(host.c_str(), &a4) == 0) return false;
  const uint32_t ip = ntohl(a4.s_addr);
  return (ip >> 24) == 127 || ip == 0;
}

Status CheckAgentEndpoint(const Config& config, const Plan& plan) {
  if (config.backend != "docker" || config.docker.network == "host") return Status::Ok();
  bool agents = false;
  for (const Task& t : plan.tasks) agents |= t.is_agent();
  if (!agents) return Status::Ok();
  const bool bedrock = config.llm.provider == "bedrock" || config.docker.use_bedrock;
  const std::string url = bedrock ? config.llm.bedrock_endpoint : config.llm.base_url;
  if (url.empty() || !IsLoopbackUrl(url)) return Status::Ok();
  std::string shown = url;  // without any user:password@
  if (size_t scheme = shown.find("://"), at = shown.find('@'); at != std::string::npos &&
      (scheme == std::string::npos || at > scheme) && at < shown.find('/', scheme == std::string::npos ? 0 : scheme + 3)) {
    shown = shown.substr(0, scheme == std::string::npos ? 0 : scheme + 3) + shown.substr(at + 1);
  }
  return Status::InvalidArgument(
      "the LLM endpoint " + shown + " (" + (bedrock ? "llm.bedrock_endpoint" : "llm.base_url / ANTHROPIC_BASE_URL") +
      ") is a loopback address, which agents in containers on network '" + config.docker.network +
      "' cannot reach (there it is the container itself); run with docker.network=host "
      "(--set docker.network=host or PORCH_DOCKER_NETWORK=host), or give an address the "
      "containers can reach");
}

}  // namespace porch
