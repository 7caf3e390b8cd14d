#include "backend/docker/docker_client.h"

#include <stdlib.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <tuple>

#include "backend/factory.h"
#include "config/config.h"
#include "core/digest.h"
#include "model/json_fields.h"

namespace porch {

using nlohmann::json;

namespace {

constexpr const char* kApi = "/v1.41";
// How long porch waits for another porch process's engine-wide operation.
constexpr double kEngineLockWaitSeconds = 60;

std::string UrlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string EngineMessage(const HttpResponse& r) {
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("message")) return j["message"].get<std::string>();
  return r.body.substr(0, 300);
}

}  // namespace

std::string DockerSocket(const std::string& configured, const std::string& docker_host_env) {
  std::string s = !configured.empty() ? configured : docker_host_env;
  if (s.empty()) s = "/var/run/docker.sock";
  if (s.rfind("unix://", 0) == 0) s = s.substr(7);
  return s;
}

DockerClient::DockerClient(HttpClient* http, std::string socket)
    : http_(http), socket_(DockerSocket(socket, "")) {}

Result<HttpResponse> DockerClient::Call(const std::string& method, const std::string& path,
                                        const std::string& body, const std::string& type) {
  HttpRequest req;
  req.method = method;
  req.url = std::string("http://localhost") + kApi + path;
  req.unix_socket = socket_;
  req.body = body;
  req.timeout_s = 120;
  if (!type.empty()) req.headers.emplace_back("content-type", type);
  Result<HttpResponse> r = http_->Send(req);
  if (!r.ok()) {
    return Status::Unavailable("cannot reach the Docker engine at unix://" + socket_ +
                               ": is dockerd running? (" + r.status().message() + ")");
  }
  return r;
}

Status DockerClient::Check(const Result<HttpResponse>& r, const std::string& what) {
  if (!r.ok()) return r.status();
  if (r->status >= 200 && r->status < 300) return Status::Ok();
  std::string msg = what + ": the engine answered " + std::to_string(r->status) + " (" +
                    EngineMessage(*r) + ")";
  if (r->status == 404) return Status::NotFound(msg);
  if (r->status == 409) return Status::AlreadyExists(msg);
  if (r->status < 500) return Status::Internal(msg);  // a refusal: asking again will not help
  return Status::Unavailable(msg);
}

Result<bool> DockerClient::MapsUsers() {
  Result<HttpResponse> r = Call("GET", "/info");
  PORCH_RETURN_IF_ERROR(Check(r, "info"));
  json info = json::parse(r->body, nullptr, false);
  const json& options = JsonArray(info, "SecurityOptions");
  for (const json& o : options) {
    if (!o.is_string()) continue;
    const std::string s = o.get<std::string>();
    if (s.find("name=rootless") != std::string::npos || s.find("name=userns") != std::string::npos) return true;
  }
  return false;
}

Status DockerClient::Ping() {
  Result<HttpResponse> r = Call("GET", "/_ping");
  PORCH_RETURN_IF_ERROR(Check(r, "ping"));
  Result<std::string> v = ApiVersion();
  if (!v.ok()) return v.status();
  int major = 0, minor = 0;
  if (std::sscanf(v->c_str(), "%d.%d", &major, &minor) != 2 || major < 1 || (major == 1 && minor < 41)) {
    return Status::Infeasible("the Docker engine's API is " + *v + "; porch needs 1.41 or later");
  }
  return Status::Ok();
}

Result<std::string> DockerClient::ApiVersion() {
  Result<HttpResponse> r = Call("GET", "/version");
  PORCH_RETURN_IF_ERROR(Check(r, "version"));
  json j = json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("ApiVersion")) return Status::Unavailable("version: unexpected answer");
  return j["ApiVersion"].get<std::string>();
}

bool IsPredefinedNetwork(const std::string& name) {
  return name == "host" || name == "bridge" || name == "none" || name == "default";
}

Result<std::vector<NetworkInfo>> DockerClient::NetworksNamed(const std::string& name) {
  // The engine's name filter matches substrings: compare names exactly.
  Result<HttpResponse> r =
      Call("GET", "/networks?filters=" + UrlEncode(json({{"name", {name}}}).dump()));
  PORCH_RETURN_IF_ERROR(Check(r, "listing networks named '" + name + "'"));
  json j = json::parse(r->body, nullptr, false);
  if (!j.is_array()) return Status::Unavailable("listing networks: unexpected answer");
  std::vector<NetworkInfo> out;
  for (const json& n : j) {
    if (!n.is_object() || n.value("Name", "") != name) continue;
    NetworkInfo info;
    info.id = n.value("Id", "");
    info.name = name;
    info.created = n.value("Created", "");
    info.containers = n.contains("Containers") && n["Containers"].is_object()
                          ? n["Containers"].size()
                          : 0;
    out.push_back(std::move(info));
  }
  // Oldest first; the id breaks ties, so every client picks the same one.
  std::sort(out.begin(), out.end(), [](const NetworkInfo& a, const NetworkInfo& b) {
    return std::tie(a.created, a.id) < std::tie(b.created, b.id);
  });
  return out;
}

std::unique_ptr<FileLock> EngineLock(const std::string& socket, const std::string& what,
                                     double timeout_s) {
  const char* tmp = getenv("TMPDIR");
  std::string key = Sha256Hex(socket + "\n" + what).substr(0, 24);
  std::string path = std::string(tmp && *tmp ? tmp : "/tmp") + "/porch-engine-" + key + ".lock";
  Result<std::unique_ptr<FileLock>> lock = FileLock::AcquireWaiting(path, timeout_s, /*shared=*/true);
  return lock.ok() ? std::move(*lock) : nullptr;
}

Result<std::string> DockerClient::EnsureNetwork(const std::string& name) {
  if (IsPredefinedNetwork(name)) return name;  // the engine's own: used, never created
  const std::string what = "network '" + name + "'";
  std::unique_ptr<FileLock> lock = EngineLock(socket_, "network", kEngineLockWaitSeconds);
  Result<std::vector<NetworkInfo>> have = NetworksNamed(name);
  if (!have.ok()) return have.status().Annotate(what);
  if (have->empty()) {
    Result<HttpResponse> r = Call("POST", "/networks/create",
                                  json({{"Name", name}, {"CheckDuplicate", true}}).dump(),
                                  "application/json");
    if (!(r.ok() && r->status == 409)) {
      PORCH_RETURN_IF_ERROR(Check(r, "creating " + what));
    }
    // Docker 20.10 does not serialise creates: another client may have made
    // one of the same name at the same moment. Look again and agree on one.
    have = NetworksNamed(name);
    if (!have.ok()) return have.status().Annotate(what);
    if (have->empty()) return Status::Unavailable(what + " vanished right after it was created");
  }
  // With duplicates, everyone uses the oldest; extras nobody uses yet are
  // removed (a failure here is harmless: the next start tries again).
  for (size_t k = 1; k < have->size(); ++k) {
    if ((*have)[k].containers == 0) RemoveNetwork((*have)[k].id).IgnoreError();
  }
  return (*have)[0].id;
}

Status DockerClient::RemoveNetwork(const std::string& id) {
  Result<HttpResponse> r = Call("DELETE", "/networks/" + UrlEncode(id));
  if (r.ok() && r->status == 404) return Status::Ok();
  return Check(r, "removing network '" + id + "'");
}

Status DockerClient::RemoveImage(const std::string& image) {
  Result<HttpResponse> r = Call("DELETE", "/images/" + UrlEncode(image) + "?force=1");
  if (r.ok() && r->status == 404) return Status::Ok();
  return Check(r, "removing image '" + image + "'");
}

Result<bool> DockerClient::ImageExists(const std::string& image) {
  Result<HttpResponse> r = Call("GET", "/images/" + image + "/json");
  if (r.ok() && r->status == 404) return false;
  PORCH_RETURN_IF_ERROR(Check(r, "inspecting image '" + image + "'"));
  return true;
}

Status DockerClient::ImportImage(const std::string& tar, const std::string& repo,
                                 const std::string& tag) {
  Result<HttpResponse> r = Call("POST",
                                "/images/create?fromSrc=-&repo=" + UrlEncode(repo) + "&tag=" +
                                    UrlEncode(tag),
                                tar, "application/x-tar");
  return Check(r, "importing image '" + repo + ":" + tag + "'");
}

Status DockerClient::BuildImage(const std::string& context_tar, const std::string& tag,
                               const std::string& dockerfile, std::string* log) {
  HttpRequest req;
  req.method = "POST";
  req.url = std::string("http://localhost") + kApi + "/build?t=" + UrlEncode(tag) +
            "&dockerfile=" + UrlEncode(dockerfile) + "&rm=1&forcerm=1&pull=0";
  req.unix_socket = socket_;
  req.body = context_tar;
  req.timeout_s = 3600;  // a real image build installs packages
  req.headers.emplace_back("content-type", "application/x-tar");
  Result<HttpResponse> r = http_->Send(req);
  if (!r.ok()) {
    return Status::Unavailable("cannot reach the Docker engine at unix://" + socket_ +
                               ": is dockerd running? (" + r.status().message() + ")");
  }
  const std::string what = "building image '" + tag + "'";
  PORCH_RETURN_IF_ERROR(Check(r, what));
  // The answer is a stream of JSON lines; a failed step is an "error" line
  // in a 200 answer.
  size_t start = 0;
  while (start < r->body.size()) {
    size_t nl = r->body.find('\n', start);
    std::string line = r->body.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    start = nl == std::string::npos ? r->body.size() : nl + 1;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    if (j.contains("stream") && j["stream"].is_string() && log) *log += j["stream"].get<std::string>();
    if (j.contains("error") && j["error"].is_string()) {
      return Status::Internal(what + " failed: " + j["error"].get<std::string>());
    }
  }
  return Status::Ok();
}

json DockerClient::CreateBody(const ContainerSpec& s) {
  json host = {{"Binds", s.binds}};
  if (s.cpus > 0) host["NanoCpus"] = static_cast<int64_t>(s.cpus * 1e9);
  if (s.memory_bytes > 0) {
    host["Memory"] = s.memory_bytes;
    host["MemorySwap"] = s.memory_bytes;  // no swap beyond the limit: OOM is an OOM
  }
  if (s.pids_limit > 0) host["PidsLimit"] = s.pids_limit;
  if (!s.network.empty()) host["NetworkMode"] = s.network;
  json body = {{"Image", s.image}, {"Cmd", s.cmd}, {"Env", s.env}, {"Labels", s.labels},
               {"HostConfig", host}};
  if (!s.working_dir.empty()) body["WorkingDir"] = s.working_dir;
  if (!s.user.empty()) body["User"] = s.user;
  return body;
}

Result<std::string> DockerClient::CreateContainer(const ContainerSpec& spec) {
  for (const std::string& b : spec.binds) {
    if (b.empty() || b[0] != '/') {
      // A relative path would silently become a named volume.
      return Status::InvalidArgument("bind '" + b + "' must start with an absolute host path");
    }
  }
  std::string path = "/containers/create";
  if (!spec.name.empty()) path += "?name=" + UrlEncode(spec.name);
  Result<HttpResponse> r = Call("POST", path, CreateBody(spec).dump(), "application/json");
  if (r.ok() && r->status == 404) {
    return Status::NotFound("image '" + spec.image + "' is not in the engine (" +
                            EngineMessage(*r) + "); build it with docker/build.sh");
  }
  PORCH_RETURN_IF_ERROR(Check(r, "creating a container"));
  json j = json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("Id")) return Status::Unavailable("create: no container id");
  return j["Id"].get<std::string>();
}

Status DockerClient::StartContainer(const std::string& id) {
  Result<HttpResponse> r = Call("POST", "/containers/" + id + "/start");
  if (r.ok() && r->status == 304) return Status::Ok();  // already started
  return Check(r, "starting container " + id.substr(0, 12));
}

Status DockerClient::KillContainer(const std::string& id, const std::string& signal) {
  Result<HttpResponse> r = Call("POST", "/containers/" + id + "/kill?signal=" + UrlEncode(signal));
  if (r.ok() && r->status == 409) return Status::Ok();  // not running any more
  return Check(r, "signalling container " + id.substr(0, 12));
}

Status DockerClient::RemoveContainer(const std::string& id) {
  Result<HttpResponse> r = Call("DELETE", "/containers/" + id + "?force=1&v=1");
  if (r.ok() && r->status == 404) return Status::Ok();
  return Check(r, "removing container " + id.substr(0, 12));
}

Result<ContainerState> DockerClient::Inspect(const std::string& id) {
  Result<HttpResponse> r = Call("GET", "/containers/" + id + "/json");
  PORCH_RETURN_IF_ERROR(Check(r, "inspecting container " + id.substr(0, 12)));
  json j = json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("State")) return Status::Unavailable("inspect: unexpected answer");
  ContainerState s;
  s.id = j.value("Id", id);
  const json& st = j["State"];
  s.status = st.value("Status", "");
  s.running = st.value("Running", false);
  s.exit_code = st.value("ExitCode", 0);
  s.oom_killed = st.value("OOMKilled", false);
  if (j.contains("Config") && j["Config"].contains("Labels") && j["Config"]["Labels"].is_object()) {
    for (auto it = j["Config"]["Labels"].begin(); it != j["Config"]["Labels"].end(); ++it) {
      s.labels[it.key()] = it.value();
    }
  }
  return s;
}

namespace {

// The engine's label filter: every "key=value" must match.
json LabelFilter(const std::map<std::string, std::string>& labels) {
  json filter = json::array();
  for (const auto& [k, v] : labels) filter.push_back(k + "=" + v);
  return filter;
}

}  // namespace

Status DockerClient::StreamEvents(double since, double until,
                                  const std::map<std::string, std::string>& labels,
                                  const std::function<bool(const std::string&, const std::string&)>& on_event) {
  char window[96];
  std::snprintf(window, sizeof window, "since=%.3f&until=%.3f", since, until);
  HttpRequest req;
  req.method = "GET";
  req.url = std::string("http://localhost") + kApi + "/events?" + window + "&filters=" +
            UrlEncode(json({{"type", {"container"}}, {"label", LabelFilter(labels)}}).dump());
  req.unix_socket = socket_;
  req.timeout_s = std::max(2.0, until - since + 5);  // the engine ends the stream at `until`
  std::string pending;  // one JSON object per line, split anywhere by chunks
  bool stopped = false;
  Result<HttpResponse> r = http_->Send(req, [&](std::string_view chunk) {
    pending.append(chunk);
    for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
      json ev = json::parse(pending.substr(0, nl), nullptr, false);
      pending.erase(0, nl + 1);
      if (!ev.is_object()) continue;
      // Field by field, each checked (an engine's odd answer must not throw
      // here, inside the transfer's callback).
      auto text = [](const json& o, const char* k) {
        return o.is_object() && o.contains(k) && o[k].is_string() ? o[k].get<std::string>() : std::string();
      };
      std::string id = text(ev, "id");
      if (id.empty() && ev.contains("Actor")) id = text(ev["Actor"], "ID");
      std::string action = text(ev, "Action");
      if (action.empty()) action = text(ev, "status");
      if (!on_event(id, action)) {
        stopped = true;
        return false;
      }
    }
    return true;
  });
  if (stopped) return Status::Ok();
  if (!r.ok()) {
    return Status::Unavailable("cannot reach the Docker engine at unix://" + socket_ +
                               ": is dockerd running? (" + r.status().message() + ")");
  }
  return Check(r, "following events");
}

Result<std::vector<ContainerState>> DockerClient::List(const std::map<std::string, std::string>& labels) {
  Result<HttpResponse> r = Call(
      "GET", "/containers/json?all=1&filters=" + UrlEncode(json({{"label", LabelFilter(labels)}}).dump()));
  PORCH_RETURN_IF_ERROR(Check(r, "listing containers"));
  json j = json::parse(r->body, nullptr, false);
  std::vector<ContainerState> out;
  if (!j.is_array()) return out;
  for (const json& c : j) {
    ContainerState s;
    s.id = c.value("Id", "");
    s.status = c.value("State", "");
    s.running = s.status == "running";
    if (c.contains("Labels") && c["Labels"].is_object()) {
      for (auto it = c["Labels"].begin(); it != c["Labels"].end(); ++it) s.labels[it.key()] = it.value();
    }
    out.push_back(s);
  }
  return out;
}

void DockerClient::Demux(const std::string& stream, std::string* out, std::string* err) {
  size_t pos = 0;
  while (pos + 8 <= stream.size()) {
    unsigned char kind = static_cast<unsigned char>(stream[pos]);
    uint32_t len = (uint32_t{static_cast<unsigned char>(stream[pos + 4])} << 24) |
                   (uint32_t{static_cast<unsigned char>(stream[pos + 5])} << 16) |
                   (uint32_t{static_cast<unsigned char>(stream[pos + 6])} << 8) |
                   static_cast<unsigned char>(stream[pos + 7]);
    pos += 8;
    std::string chunk = stream.substr(pos, len);
    pos += len;
    (kind == 2 ? err : out)->append(chunk);
  }
}

Status DockerClient::Logs(const std::string& id, std::string* out, std::string* err) {
  Result<HttpResponse> r = Call("GET", "/containers/" + id + "/logs?stdout=1&stderr=1");
  PORCH_RETURN_IF_ERROR(Check(r, "reading the logs of container " + id.substr(0, 12)));
  Demux(r->body, out, err);
  return Status::Ok();
}

std::vector<std::string> ContainerProxies(const std::map<std::string, std::string>& env,
                                          const std::string& network) {
  std::vector<std::string> out;
  for (const std::string& name : ProxyVariables()) {
    auto v = env.find(name);
    if (v == env.end()) continue;
    const bool no_proxy = name == "NO_PROXY" || name == "no_proxy";
    if (!no_proxy && network != "host" && IsLoopbackUrl(v->second)) continue;
    out.push_back(name + "=" + v->second);
  }
  return out;
}

}  // namespace porch
