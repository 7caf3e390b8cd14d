// A raw HTTP client for the web tests: what a browser, a script or an
// attacker sends, byte for byte, over a loopback socket.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>

namespace porch {

class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawClient() { close(fd_); }
  bool connected() const { return connected_; }
  bool Send(const std::string& s) { return send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size()); }
  // Reads until `want` has arrived, the peer closes, or `timeout_s` passes.
  std::string ReadUntil(const std::string& want, double timeout_s = 5) {
    const auto end = std::chrono::steady_clock::now() +
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(timeout_s));
    while ((want.empty() || got_.find(want) == std::string::npos) && ReadMore(end)) {
    }
    return got_;
  }
  // Reads one whole response (its head and a Content-Length body) and
  // takes it off what was received; "" when it did not arrive in time.
  std::string ReadResponse(double timeout_s = 5) {
    const auto end = std::chrono::steady_clock::now() +
                     std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(timeout_s));
    size_t head;
    while ((head = got_.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadMore(end)) return "";
    }
    size_t len = got_.find("Content-Length: ");
    if (len == std::string::npos || len > head) return "";
    const size_t want = head + 4 + std::strtoul(got_.c_str() + len + 16, nullptr, 10);
    while (got_.size() < want) {
      if (!ReadMore(end)) return "";
    }
    std::string r = got_.substr(0, want);
    got_.erase(0, want);
    return r;
  }
  // Sends FIN: nothing more will be sent, answers may still be read.
  void ShutdownWrite() { shutdown(fd_, SHUT_WR); }
  bool closed() const { return closed_; }
  void Clear() { got_.clear(); }

 private:
  bool ReadMore(std::chrono::steady_clock::time_point end) {
    const int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        end - std::chrono::steady_clock::now()).count());
    if (ms <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0) return false;
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    got_.append(buf, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false, closed_ = false;
  std::string got_;
};

inline std::string RawGet(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + "\r\n";
}

}  // namespace porch
