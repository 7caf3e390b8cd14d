#include "web/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "platform/clock.h"

namespace porch {

namespace {

constexpr size_t kMaxHeaders = 100;
constexpr double kLoopTickSeconds = 0.1;  // how often deadlines and streams are looked at
constexpr size_t kReadChunk = 16 * 1024;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool Decode(std::string_view in, bool plus_is_space, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      c = ' ';
    }
    if (c == '\0') return false;
    out->push_back(c);
  }
  return true;
}

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return std::string(s.substr(b, e - b));
}

}  // namespace

int ParseRequestHead(std::string_view head, ServerRequest* req, bool* keep_alive) {
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return 400;
  req->method = std::string(line.substr(0, sp1));
  req->target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  std::string_view version = line.substr(sp2 + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return 400;
  if (!ParseTarget(req->target, &req->segments, &req->query)) return 400;
  size_t pos = eol == std::string_view::npos ? head.size() : eol + 2;
  while (pos < head.size()) {
    size_t end = head.find("\r\n", pos);
    if (end == std::string_view::npos) end = head.size();
    std::string_view h = head.substr(pos, end - pos);
    pos = end + 2;
    size_t colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0) return 400;
    if (req->headers.size() >= kMaxHeaders) return 431;
    std::string name = Lower(std::string(h.substr(0, colon)));
    // A repeated framing header is how requests are smuggled past proxies.
    if ((name == "content-length" || name == "transfer-encoding") && req->headers.count(name)) return 400;
    req->headers[std::move(name)] = Trim(h.substr(colon + 1));
  }
  auto header = [&](const char* name) {
    auto it = req->headers.find(name);
    return it == req->headers.end() ? std::string() : Lower(it->second);
  };
  const std::string connection = header("connection");
  *keep_alive = version == "HTTP/1.1" ? connection.find("close") == std::string::npos
                                      : connection.find("keep-alive") != std::string::npos;
  const std::string length = header("content-length");
  if (!header("transfer-encoding").empty() || (!length.empty() && length != "0")) return 413;
  return 0;
}

namespace {

std::string Serialize(const ServerResponse& r, bool keep_alive) {
  std::string s = "HTTP/1.1 " + std::to_string(r.status) + " " + Reason(r.status) + "\r\n";
  s += "Content-Type: " + r.content_type + "\r\n";
  if (r.next) {
    s += "Cache-Control: no-store\r\nConnection: close\r\n";  // the stream ends with the connection
  } else {
    s += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
    s += keep_alive ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  }
  for (const auto& [k, v] : r.headers) s += k + ": " + v + "\r\n";
  s += "\r\n";
  s += r.body;
  return s;
}

}  // namespace

bool ParseTarget(const std::string& target, std::vector<std::string>* segments,
                 std::map<std::string, std::string>* query) {
  segments->clear();
  query->clear();
  if (target.empty() || target[0] != '/') return false;
  size_t q = target.find('?');
  std::string_view path = std::string_view(target).substr(0, q);
  std::string decoded;
  for (size_t start = 1; start <= path.size();) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (!Decode(path.substr(start, slash - start), false, &decoded)) return false;
    if (!decoded.empty()) segments->push_back(decoded);
    start = slash + 1;
  }
  if (q == std::string::npos) return true;
  std::string_view rest = std::string_view(target).substr(q + 1);
  for (size_t start = 0; start < rest.size();) {
    size_t amp = rest.find('&', start);
    if (amp == std::string_view::npos) amp = rest.size();
    std::string_view pair = rest.substr(start, amp - start);
    size_t eq = pair.find('=');
    std::string key, value;
    if (!Decode(pair.substr(0, eq), true, &key)) return false;
    if (eq != std::string_view::npos && !Decode(pair.substr(eq + 1), true, &value)) return false;
    if (!key.empty()) (*query)[key] = value;
    start = amp + 1;
  }
  return true;
}

ServerResponse ServerResponse::Json(int status, std::string body) {
  ServerResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers.push_back({"Cache-Control", "no-store"});
  return r;
}

ServerResponse ServerResponse::Error(int status, const std::string& message) {
  std::string escaped;
  for (char c : message) {
    if (c == '"' || c == '\\') escaped += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    escaped += c;
  }
  return Json(status, "{\"error\":\"" + escaped + "\"}");
}

class HttpServer::Impl {
 public:
  Impl(const HttpServerOptions& o, ServerGate gate, ServerHandler handler)
      : o_(o), gate_(std::move(gate)), handler_(std::move(handler)) {}
  ~Impl() { Stop(); }

  Status Bind(int* port);
  void Run();
  void Stop();
  HttpServerStats stats() const {
    std::lock_guard<std::mutex> l(stats_mu_);
    return stats_;
  }

 private:
  enum class Phase { kHead, kHandling, kWriting, kStreaming };
  struct Conn {
    int fd = -1;
    Phase phase = Phase::kHead;
    std::string in, out;
    size_t out_sent = 0;
    double deadline = 0;
    bool keep_alive = true;
    bool close_after_write = false;
    bool want_write = false;
    bool peer_closed = false;  // the client sent FIN: answer what it asked, then close
    std::function<std::optional<std::string>()> next;
    double interval_s = 1;
    double next_at = 0;
    bool busy = false;  // a worker is producing for it
  };
  struct Job {
    uint64_t id;
    std::optional<ServerRequest> request;                 // a request to handle, or
    std::function<std::optional<std::string>()> produce;  // a stream's next piece
  };
  struct Done {
    uint64_t id;
    std::optional<ServerResponse> response;
    std::optional<std::string> piece;  // a stream's piece; nullopt ends it
    bool was_stream = false;
  };

  void Accept();
  void OnReadable(uint64_t id, Conn& c);
  void TryParse(uint64_t id, Conn& c);
  void Respond(uint64_t id, Conn& c, const ServerResponse& r);
  void Flush(uint64_t id, Conn& c);
  void Close(uint64_t id);
  void Watch(uint64_t id, Conn& c, bool write);
  void Rearm(uint64_t id, Conn& c);  // applies the epoll mask the connection wants
  void DrainDone();
  void Tick(double now);
  void Post(Job job);
  void Work();
  void Count(uint64_t HttpServerStats::*field) {
    std::lock_guard<std::mutex> l(stats_mu_);
    ++(stats_.*field);
  }

  const HttpServerOptions o_;
  ServerGate gate_;
  ServerHandler handler_;
  int listen_fd_ = -1, epoll_fd_ = -1, wake_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::unordered_map<uint64_t, Conn> conns_;  // loop thread only
  bool accept_paused_ = false;                // loop thread only
  uint64_t next_id_ = 1;
  std::thread loop_;
  std::vector<std::thread> workers_;
  std::mutex jobs_mu_;
  std::condition_variable jobs_cv_;
  std::deque<Job> jobs_;
  std::mutex done_mu_;
  std::vector<Done> done_;
  mutable std::mutex stats_mu_;
  HttpServerStats stats_;

  friend class HttpServer;
};

Status HttpServer::Impl::Bind(int* port) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  const std::string service = std::to_string(o_.port);
  int rc = getaddrinfo(o_.host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) return Status::InvalidArgument("cannot resolve '" + o_.host + "': " + gai_strerror(rc));
  int err = 0;
  for (addrinfo* a = res; a && listen_fd_ < 0; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 1024) == 0) {
      listen_fd_ = fd;
    } else {
      err = errno;
      close(fd);
    }
  }
  freeaddrinfo(res);
  if (listen_fd_ < 0) {
    return Status::Unavailable("cannot listen on " + o_.host + ":" + service + ": " +
                               std::strerror(err) + " (in use? try --port 0)");
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                     : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) return Status::FromErrno("dashboard: epoll", errno);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;  // the listening socket
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  ev.data.u64 = UINT64_MAX;  // the wake-up
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  return Status::Ok();
}

void HttpServer::Impl::Post(Job job) {
  {
    std::lock_guard<std::mutex> l(jobs_mu_);
    jobs_.push_back(std::move(job));
  }
  jobs_cv_.notify_one();
}

void HttpServer::Impl::Work() {
  while (true) {
    Job job;
    {
      std::unique_lock<std::mutex> l(jobs_mu_);
      jobs_cv_.wait(l, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    Done d{job.id, std::nullopt, std::nullopt, false};
    d.was_stream = !job.request;
    // Nothing a handler throws (out of memory on a huge file, say) may end
    // porch: a request gets 500, a stream ends.
    try {
      if (job.request) {
        d.response = handler_(*job.request);
      } else {
        d.piece = job.produce();
      }
    } catch (const std::exception& e) {
      if (job.request) d.response = ServerResponse::Error(500, std::string("internal error: ") + e.what());
      d.piece = std::nullopt;
    }
    {
      std::lock_guard<std::mutex> l(done_mu_);
      done_.push_back(std::move(d));
    }
    uint64_t one = 1;
    ssize_t ignored = write(wake_fd_, &one, sizeof one);
    (void)ignored;
  }
}

void HttpServer::Impl::Watch(uint64_t id, Conn& c, bool write) {
  if (c.want_write == write) return;
  c.want_write = write;
  Rearm(id, c);
}

void HttpServer::Impl::Rearm(uint64_t id, Conn& c) {
  const bool write = c.want_write;
  epoll_event ev{};
  // After the client's FIN, reading would report it again and again.
  ev.events = (c.peer_closed ? 0u : static_cast<uint32_t>(EPOLLIN | EPOLLRDHUP)) |
              (write ? static_cast<uint32_t>(EPOLLOUT) : 0u);
  ev.data.u64 = id;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
}

void HttpServer::Impl::Accept() {
  while (true) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: stop listening until the next tick rather
        // than spin on a socket that stays readable.
        epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
        accept_paused_ = true;
      }
      return;
    }
    if (conns_.size() >= o_.max_connections) {
      static const char kFull[] =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      Count(&HttpServerStats::refused_full);  // before the client can see the answer
      ssize_t ignored = send(fd, kFull, sizeof kFull - 1, MSG_NOSIGNAL);
      (void)ignored;
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const uint64_t id = next_id_++;
    Conn& c = conns_[id];
    c.fd = fd;
    c.deadline = MonotonicSeconds() + o_.header_timeout_s;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = id;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    Count(&HttpServerStats::accepted);
  }
}

void HttpServer::Impl::Close(uint64_t id) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second.fd, nullptr);
  close(it->second.fd);
  conns_.erase(it);
}

void HttpServer::Impl::OnReadable(uint64_t id, Conn& c) {
  if (c.peer_closed) {  // not watched for reading: this is EPOLLHUP/ERR, the client is gone
    Close(id);
    return;
  }
  char buf[kReadChunk];
  while (true) {
    ssize_t n = recv(c.fd, buf, sizeof buf, 0);
    if (n > 0) {
      if (c.phase == Phase::kHead && c.in.empty()) {
        // The head's clock starts with its first byte (an idle keep-alive
        // connection had the idle timeout until now).
        c.deadline = std::min(c.deadline, MonotonicSeconds() + o_.header_timeout_s);
      }
      if (c.phase == Phase::kStreaming) continue;  // nothing is read from a stream's client
      c.in.append(buf, static_cast<size_t>(n));
      if (c.in.size() > 2 * o_.max_header_bytes + 8) {
        // More than a whole head waiting while the last is answered:
        // the client does not read what it asks for.
        Close(id);
        return;
      }
      if (c.in.size() > o_.max_header_bytes + 4) break;
      continue;
    }
    if (n == 0) {
      // FIN: the client sends nothing more, but may still read. A request it
      // finished sending is answered, then the connection is closed.
      const bool asked = c.phase == Phase::kHandling || c.phase == Phase::kWriting ||
                         (c.phase == Phase::kHead && c.in.find("\r\n\r\n") != std::string::npos);
      if (!asked) {
        Close(id);
        return;
      }
      c.peer_closed = true;
      c.keep_alive = false;
      c.close_after_write = true;
      Rearm(id, c);
      break;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      Close(id);
      return;
    }
    break;
  }
  if (c.phase == Phase::kHead) TryParse(id, c);
}

void HttpServer::Impl::TryParse(uint64_t id, Conn& c) {
  size_t end = c.in.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (c.in.size() > o_.max_header_bytes) {
      c.keep_alive = false;
      Respond(id, c, ServerResponse::Error(431, "the request head is too large"));
    }
    return;
  }
  if (end > o_.max_header_bytes) {
    c.keep_alive = false;
    Respond(id, c, ServerResponse::Error(431, "the request head is too large"));
    return;
  }
  ServerRequest req;
  bool keep_alive = true;
  int bad = ParseRequestHead(std::string_view(c.in).substr(0, end), &req, &keep_alive);
  c.in.erase(0, end + 4);
  c.keep_alive = keep_alive;
  Count(&HttpServerStats::requests);
  if (bad != 0) {
    c.keep_alive = false;
    Respond(id, c, ServerResponse::Error(bad, "malformed request"));
    return;
  }
  if (std::optional<ServerResponse> refused = gate_ ? gate_(req) : std::nullopt) {
    c.keep_alive = false;  // a refused client gets nothing more on this connection
    Respond(id, c, *refused);
    return;
  }
  if (req.method != "GET") {
    c.keep_alive = false;
    Respond(id, c, ServerResponse::Error(405, "only GET is served"));
    return;
  }
  c.phase = Phase::kHandling;
  c.deadline = 0;  // the handler's time is not the client's
  Post({id, std::move(req), nullptr});
}

void HttpServer::Impl::Respond(uint64_t id, Conn& c, const ServerResponse& r) {
  c.out = Serialize(r, c.keep_alive);
  c.out_sent = 0;
  c.next = r.next;
  c.interval_s = r.interval_s;
  if (c.peer_closed) c.next = nullptr;  // no stream to a client that has left
  c.close_after_write = (!c.keep_alive && !c.next) || c.peer_closed;
  c.phase = Phase::kWriting;
  c.deadline = MonotonicSeconds() + o_.write_timeout_s;
  Flush(id, c);
}

void HttpServer::Impl::Flush(uint64_t id, Conn& c) {
  while (c.out_sent < c.out.size()) {
    ssize_t n = send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      Watch(id, c, true);
      return;
    }
    Close(id);
    return;
  }
  c.out.clear();
  c.out_sent = 0;
  Watch(id, c, false);
  const double now = MonotonicSeconds();
  if (c.next) {
    c.phase = Phase::kStreaming;
    c.deadline = 0;
    if (c.next_at == 0) c.next_at = now + c.interval_s;
    return;
  }
  if (c.close_after_write) {
    Close(id);
    return;
  }
  c.phase = Phase::kHead;
  c.deadline = now + (c.in.empty() ? o_.idle_timeout_s : o_.header_timeout_s);
  if (!c.in.empty()) TryParse(id, c);  // a pipelined request
}

void HttpServer::Impl::DrainDone() {
  uint64_t count;
  ssize_t ignored = read(wake_fd_, &count, sizeof count);
  (void)ignored;
  std::vector<Done> done;
  {
    std::lock_guard<std::mutex> l(done_mu_);
    done.swap(done_);
  }
  for (Done& d : done) {
    auto it = conns_.find(d.id);
    if (it == conns_.end()) continue;  // the client left meanwhile
    Conn& c = it->second;
    if (!d.was_stream) {
      Respond(d.id, c, *d.response);
      continue;
    }
    c.busy = false;
    if (!d.piece) {
      Close(d.id);
      continue;
    }
    c.next_at = MonotonicSeconds() + c.interval_s;
    if (d.piece->empty()) continue;
    c.out = std::move(*d.piece);
    c.out_sent = 0;
    c.phase = Phase::kWriting;
    c.deadline = MonotonicSeconds() + o_.write_timeout_s;
    Flush(d.id, c);
  }
}

void HttpServer::Impl::Tick(double now) {
  if (accept_paused_) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = 0;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
    accept_paused_ = false;
  }
  std::vector<uint64_t> expired;
  for (auto& [id, c] : conns_) {
    if (c.deadline > 0 && now >= c.deadline) {
      expired.push_back(id);
    } else if (c.phase == Phase::kStreaming && !c.busy && now >= c.next_at) {
      c.busy = true;
      Post({id, std::nullopt, c.next});
    }
  }
  for (uint64_t id : expired) {
    Count(&HttpServerStats::timed_out);
    Close(id);
  }
}

void HttpServer::Impl::Run() {
  std::vector<epoll_event> events(256);
  double next_tick = MonotonicSeconds() + kLoopTickSeconds;
  while (!stopping_) {
    int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()),
                       static_cast<int>(kLoopTickSeconds * 1000));
    for (int i = 0; i < n; ++i) {
      const uint64_t id = events[i].data.u64;
      if (id == 0) {
        Accept();
        continue;
      }
      if (id == UINT64_MAX) {
        DrainDone();
        continue;
      }
      auto it = conns_.find(id);
      if (it == conns_.end()) continue;
      if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        OnReadable(id, it->second);
        it = conns_.find(id);
        if (it == conns_.end()) continue;
      }
      if ((events[i].events & EPOLLOUT) && it->second.phase == Phase::kWriting) Flush(id, it->second);
    }
    const double now = MonotonicSeconds();
    if (now >= next_tick) {
      Tick(now);
      next_tick = now + kLoopTickSeconds;
    }
    std::lock_guard<std::mutex> l(stats_mu_);
    stats_.open = conns_.size();
  }
}

void HttpServer::Impl::Stop() {
  if (stopping_.exchange(true)) return;
  uint64_t one = 1;
  if (wake_fd_ >= 0) {
    ssize_t ignored = write(wake_fd_, &one, sizeof one);
    (void)ignored;
  }
  if (loop_.joinable()) loop_.join();
  {
    std::lock_guard<std::mutex> l(jobs_mu_);  // no worker between its check and its wait
  }
  jobs_cv_.notify_all();
  for (std::thread& w : workers_) {
    if (w.joinable()) w.join();
  }
  for (auto& [id, c] : conns_) close(c.fd);
  conns_.clear();
  for (int* fd : {&listen_fd_, &epoll_fd_, &wake_fd_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

HttpServer::HttpServer(HttpServerOptions options, ServerGate gate, ServerHandler handler)
    : options_(std::move(options)), gate_(std::move(gate)), handler_(std::move(handler)) {}

HttpServer::~HttpServer() { Stop(); }

Status HttpServer::Start() {
  // Clients may hold at most half the descriptors this process may open:
  // the rest are the run's (porch run --dashboard shares the process).
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    const size_t share = files.rlim_cur > 160 ? static_cast<size_t>(files.rlim_cur - 64) / 2 : 16;
    options_.max_connections = std::min(options_.max_connections, share);
  }
  impl_ = std::make_unique<Impl>(options_, gate_, handler_);
  PORCH_RETURN_IF_ERROR(impl_->Bind(&port_));
  Impl* impl = impl_.get();
  for (int i = 0; i < std::max(1, options_.workers); ++i) impl->workers_.emplace_back([impl] { impl->Work(); });
  impl->loop_ = std::thread([impl] { impl->Run(); });
  return Status::Ok();
}

void HttpServer::Stop() {
  if (impl_) impl_->Stop();
  impl_.reset();
}

HttpServerStats HttpServer::stats() const { return impl_ ? impl_->stats() : HttpServerStats{}; }

}  // namespace porch
