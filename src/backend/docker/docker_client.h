// A client for the Docker Engine API, "modeled on the CLI" like Mesos'
// Docker class, over the HttpClient seam (libcurl on the engine's unix
// socket). API version 1.41 (Docker 20.10), the oldest porch supports.
//
// Errors: Unavailable when no engine answers (the message says where porch
// looked and asks whether dockerd runs); NotFound for a missing image or
// container; AlreadyExists for a name in use (409); Internal for other
// refusals (4xx); Unavailable for the engine's own failures (5xx). All carry
// the engine's message. Nothing
// here pulls images: no registry is assumed reachable.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "platform/file_lock.h"
#include "platform/http.h"

namespace porch {

// The process limit porch gives every container it creates (a fork bomb in a
// task must not take the host down).
constexpr int64_t kContainerPidsLimit = 4096;

struct ContainerSpec {
  std::string name;                          // optional
  std::string image;
  std::vector<std::string> cmd;
  std::vector<std::string> env;              // "NAME=value"; passed at create, never written to disk
  std::map<std::string, std::string> labels;
  std::vector<std::string> binds;            // "/abs/host:/abs/container[:ro]"
  std::string working_dir;
  std::string user;                          // "uid:gid" to run as; empty: the image's user
  std::string network;                       // network mode / name; empty: default bridge
  double cpus = 0;                           // NanoCpus = cpus * 1e9; 0: no limit
  uint64_t memory_bytes = 0;                 // 0: no limit (swap is limited to the same)
  int64_t pids_limit = 0;                    // 0: no limit
};

struct NetworkInfo {
  std::string id;
  std::string name;
  std::string created;  // RFC 3339, as the engine reports it
  size_t containers = 0;
};

// "host", "bridge", "none" (and "default"): networks the engine defines
// itself; they can be used but never created or removed.
bool IsPredefinedNetwork(const std::string& name);

struct ContainerState {
  std::string id;
  std::string status;    // created | running | exited | ...
  bool running = false;
  int exit_code = 0;
  bool oom_killed = false;
  std::map<std::string, std::string> labels;
};

class DockerClient {
 public:
  // `socket` is a path ("/var/run/docker.sock") or "unix://..." (DOCKER_HOST form).
  DockerClient(HttpClient* http, std::string socket);

  // Checks the engine answers and its API is at least 1.41.
  Status Ping();
  Result<std::string> ApiVersion();
  // Whether the engine maps users (rootless, or userns-remap): then its
  // containers' root already is the user who runs it (GET /info,
  // SecurityOptions).
  Result<bool> MapsUsers();

  // The id of the bridge network `name`, created if there is none. Safe
  // against concurrent callers: porch processes on this host take a lock
  // for it (EngineLock), and since Docker 20.10 may still create duplicates
  // for other clients, this lists by exact name after creating, picks the
  // oldest and removes empty extras. A predefined network (host, bridge,
  // none) is returned by name, not created. Containers should attach by the
  // id returned.
  Result<std::string> EnsureNetwork(const std::string& name);
  // Networks whose name is exactly `name`, oldest first.
  Result<std::vector<NetworkInfo>> NetworksNamed(const std::string& name);
  // Removes a network by id or name; a missing one is fine.
  Status RemoveNetwork(const std::string& id);
  // Removes an image (force); a missing one is fine.
  Status RemoveImage(const std::string& image);
  Result<bool> ImageExists(const std::string& image);
  // Imports a root filesystem tarball as image "repo:tag" (no registry).
  Status ImportImage(const std::string& tar, const std::string& repo, const std::string& tag);

  // Builds image `tag` from a build context (a tar archive, see
  // platform/tar.h) with the engine's builder; `dockerfile` is its path in the
  // context. The builder's output goes to *log. Fails with the builder's own
  // error (a failed RUN step, a missing base image: nothing is pulled from a
  // registry that cannot be reached).
  Status BuildImage(const std::string& context_tar, const std::string& tag,
                    const std::string& dockerfile, std::string* log);

  Result<std::string> CreateContainer(const ContainerSpec& spec);  // returns the id
  Status StartContainer(const std::string& id);
  Status KillContainer(const std::string& id, const std::string& signal);
  Status RemoveContainer(const std::string& id);                    // force, with volumes
  Result<ContainerState> Inspect(const std::string& id);
  // Containers (running or not) carrying every label in `labels`.
  Result<std::vector<ContainerState>> List(const std::map<std::string, std::string>& labels);
  // The container's output, demultiplexed.
  Status Logs(const std::string& id, std::string* out, std::string* err);
  // Streams the engine's container events between `since` and `until`
  // (Unix seconds; the call returns at `until`) for containers carrying
  // every label in `labels`, calling `on_event(container id, action)` for
  // each as it happens ("die", "start", ...). Blocks; `on_event` returning
  // false ends the stream early.
  Status StreamEvents(double since, double until, const std::map<std::string, std::string>& labels,
                      const std::function<bool(const std::string&, const std::string&)>& on_event);

  // The JSON body of a create request (exposed for tests).
  static nlohmann::json CreateBody(const ContainerSpec& spec);
  // Splits the engine's multiplexed log stream (8-byte frame headers).
  static void Demux(const std::string& stream, std::string* out, std::string* err);

  const std::string& socket() const { return socket_; }

 private:
  Result<HttpResponse> Call(const std::string& method, const std::string& path,
                            const std::string& body = "", const std::string& type = "");
  Status Check(const Result<HttpResponse>& r, const std::string& what);
  HttpClient* http_;
  std::string socket_;
};

// A lock shared by every porch process on this host that talks to the engine
// at `socket`, for a kind of operation Docker does not serialise itself
// ("network": creating networks; "build": building images). One lock file
// per engine and kind, in $TMPDIR or /tmp, left there (removing a lock file
// others may wait on would break the lock). Held for as long as the object
// lives; null when it could not be had within `timeout_s` (the caller then
// goes on without it: a stuck holder must not stop a run).
std::unique_ptr<FileLock> EngineLock(const std::string& socket, const std::string& what,
                                     double timeout_s);

// The engine's socket: config's docker.host, else DOCKER_HOST, else the
// standard /var/run/docker.sock.
std::string DockerSocket(const std::string& configured, const std::string& docker_host_env);

// The proxy settings in `env` (ProxyVariables) as NAME=VALUE for a
// container on `network`: all of them on "host"; on any other network a
// proxy on a loopback address is left out (there it would be the container
// itself, and the container may well reach its endpoint without it).
std::vector<std::string> ContainerProxies(const std::map<std::string, std::string>& env,
                                          const std::string& network);

}  // namespace porch
