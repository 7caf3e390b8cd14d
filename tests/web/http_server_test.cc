// The dashboard's HTTP server over real loopback sockets: request parsing,
// the gate, keep-alive, streams, and the bounds a hostile client meets
// (slow heads, too many connections, oversized heads, bodies).
#include "web/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "web/dashboard.h"
#include "web/raw_client.h"

namespace porch {
namespace {

class HttpServerTest : public ::testing::Test {
 protected:
  void Serve(HttpServerOptions o = {}, ServerGate gate = nullptr) {
    o.port = 0;
    server_ = std::make_unique<HttpServer>(o, gate, [this](const ServerRequest& req) {
      ++handled_;
      std::string body;
      for (const std::string& s : req.segments) body += "[" + s + "]";
      for (const auto& [k, v] : req.query) body += k + "=" + v + ";";
      ServerResponse r = ServerResponse::Json(200, body);
      r.content_type = "text/plain";
      return r;
    });
    ASSERT_TRUE(server_->Start().ok());
  }
  std::unique_ptr<HttpServer> server_;
  std::atomic<int> handled_{0};
};

TEST(ParseTargetTest, DecodesSegmentsAndQuery) {
  std::vector<std::string> seg;
  std::map<std::string, std::string> q;
  ASSERT_TRUE(ParseTarget("/a/b%20c//d?x=1&y=%2F+z&flag", &seg, &q));
  EXPECT_EQ(seg, (std::vector<std::string>{"a", "b c", "d"}));
  EXPECT_EQ(q["x"], "1");
  EXPECT_EQ(q["y"], "/ z");
  EXPECT_EQ(q.count("flag"), 1u);
  ASSERT_TRUE(ParseTarget("/", &seg, &q));
  EXPECT_TRUE(seg.empty());
  // A percent-encoded slash stays inside its segment: "a%2Fb" is one id.
  ASSERT_TRUE(ParseTarget("/runs/a%2Fb", &seg, &q));
  EXPECT_EQ(seg.back(), "a/b");
}

TEST(ParseTargetTest, RefusesNulBadEscapesAndRelativeTargets) {
  std::vector<std::string> seg;
  std::map<std::string, std::string> q;
  for (const char* bad : {"/api/runs/canary.txt%00", "/a?x=%00", "/a%", "/a%4", "/a%zz", "/a?x=%g1",
                          "relative", "", "http://host/a"}) {
    EXPECT_FALSE(ParseTarget(bad, &seg, &q)) << bad;
  }
}

TEST(IsLoopbackTest, ParsesAddressesNotText) {
  for (const char* yes : {"localhost", "127.0.0.1", "127.1.2.3", "::1"}) EXPECT_TRUE(IsLoopback(yes)) << yes;
  for (const char* no : {"127.evil.example", "127.0.0.1.nip.io", "0.0.0.0", "::", "10.0.0.1", "",
                         "::ffff:10.0.0.1", "1270.0.0.1", "localhost.evil.example"}) {
    EXPECT_FALSE(IsLoopback(no)) << no;
  }
}

TEST_F(HttpServerTest, KeepAliveAndPipelinedRequestsShareAConnection) {
  Serve();
  RawClient c(server_->port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send(RawGet("/one")));
  EXPECT_NE(c.ReadUntil("[one]").find("Connection: keep-alive"), std::string::npos);
  c.Clear();
  ASSERT_TRUE(c.Send(RawGet("/two?k=v") + RawGet("/three")));
  std::string both = c.ReadUntil("[three]");
  EXPECT_NE(both.find("[two]k=v;"), std::string::npos) << both;
  EXPECT_LT(both.find("[two]"), both.find("[three]"));
  EXPECT_FALSE(c.closed());
  c.Clear();
  ASSERT_TRUE(c.Send(RawGet("/last", "Connection: close\r\n")));
  c.ReadUntil("");
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(handled_, 4);
}

TEST_F(HttpServerTest, MalformedRequestsAreRefusedWithoutReachingTheHandler) {
  Serve();
  struct Case {
    std::string request, status;
  };
  const std::string big(20 * 1024, 'x');
  for (const Case& k : std::vector<Case>{
           {RawGet("/api/runs/canary.txt%00"), "400"},
           {RawGet("/a%zz"), "400"},
           {"GET /a HTTP/9.9\r\n\r\n", "400"},
           {"nonsense\r\n\r\n", "400"},
           {"GET /a HTTP/1.1\r\nno colon here\r\n\r\n", "400"},
           {"POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", "413"},
           {"GET /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "413"},
           {"DELETE /a HTTP/1.1\r\n\r\n", "405"},
           {"GET /a HTTP/1.1\r\nX-Big: " + big + "\r\n\r\n", "431"},
       }) {
    RawClient c(server_->port());
    ASSERT_TRUE(c.connected());
    c.Send(k.request);
    std::string got = c.ReadUntil("\r\n\r\n");
    EXPECT_EQ(got.rfind("HTTP/1.1 " + k.status, 0), 0u) << k.request.substr(0, 60) << " -> " << got;
    c.ReadUntil("");
    EXPECT_TRUE(c.closed()) << k.request.substr(0, 60);
  }
  EXPECT_EQ(handled_, 0);
}

// A client that sends its request and then FIN (shutdown(SHUT_WR), `nc -N`)
// still reads the answer.
TEST_F(HttpServerTest, AHalfClosedClientStillGetsItsAnswer) {
  Serve();
  RawClient c(server_->port());
  c.Send(RawGet("/half"));
  c.ShutdownWrite();
  std::string got = c.ReadUntil("", 5);
  EXPECT_NE(got.find("[half]"), std::string::npos) << got;
  EXPECT_TRUE(c.closed());
}

TEST_F(HttpServerTest, RepeatedFramingHeadersAreRefused) {
  Serve();
  RawClient c(server_->port());
  c.Send("GET /a HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
  EXPECT_EQ(c.ReadUntil("\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
  EXPECT_EQ(handled_, 0);
}

TEST_F(HttpServerTest, TheGateRunsFirstAndRefusalsCloseTheConnection) {
  std::atomic<int> gated{0};
  Serve({}, [&](const ServerRequest& req) -> std::optional<ServerResponse> {
    ++gated;
    if (req.headers.count("authorization")) return std::nullopt;
    return ServerResponse::Error(401, "a token is required");
  });
  RawClient no(server_->port());
  no.Send(RawGet("/x"));
  EXPECT_EQ(no.ReadUntil("\r\n\r\n").rfind("HTTP/1.1 401", 0), 0u);
  no.ReadUntil("");
  EXPECT_TRUE(no.closed());
  RawClient yes(server_->port());
  yes.Send(RawGet("/x", "AUTHORIZATION: Bearer t\r\n"));  // header names in any case
  EXPECT_NE(yes.ReadUntil("[x]").find("200 OK"), std::string::npos);
  EXPECT_EQ(handled_, 1);
  EXPECT_EQ(gated, 2);
}

// Slowloris: one header line now and then never completes a head. The
// connection is cut at the header timeout while others are served.
TEST_F(HttpServerTest, SlowHeadsAreCutOffWhileOthersAreServed) {
  HttpServerOptions o;
  o.header_timeout_s = 0.6;
  Serve(o);
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < 20; ++i) {
    slow.push_back(std::make_unique<RawClient>(server_->port()));
    slow.back()->Send("GET /slow HTTP/1.1\r\n");
  }
  RawClient silent(server_->port());  // connects and sends nothing at all
  for (int step = 0; step < 8; ++step) {
    for (auto& c : slow) c->Send("X-Drip: " + std::to_string(step) + "\r\n");
    RawClient ok(server_->port());
    ok.Send(RawGet("/fine", "Connection: close\r\n"));
    EXPECT_NE(ok.ReadUntil("[fine]", 2).find("[fine]"), std::string::npos) << "step " << step;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (auto& c : slow) {
    c->ReadUntil("", 2);
    EXPECT_TRUE(c->closed());
  }
  silent.ReadUntil("", 2);
  EXPECT_TRUE(silent.closed());
  EXPECT_GE(server_->stats().timed_out, 21u);
  EXPECT_EQ(handled_, 8);
}

TEST_F(HttpServerTest, ConnectionsBeyondTheCapGet503) {
  HttpServerOptions o;
  o.max_connections = 3;
  Serve(o);
  std::vector<std::unique_ptr<RawClient>> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<RawClient>(server_->port()));
    held.back()->Send(RawGet("/held"));
    held.back()->ReadUntil("[held]");
  }
  RawClient over(server_->port());
  over.Send(RawGet("/over"));
  EXPECT_EQ(over.ReadUntil("\r\n\r\n").rfind("HTTP/1.1 503", 0), 0u);
  EXPECT_EQ(server_->stats().refused_full, 1u);
  held.clear();  // the held ones leave: there is room again
  for (int i = 0; i < 1500; ++i) {
    if (server_->stats().open == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(server_->stats().open, 0u) << "the server never saw the held connections close";
  RawClient again(server_->port());
  again.Send(RawGet("/again"));
  EXPECT_NE(again.ReadUntil("[again]").find("200 OK"), std::string::npos);
}

TEST(HttpServerStreamTest, StreamsSendPiecesUntilTheFunctionEnds) {
  HttpServerOptions o;
  HttpServer server(o, nullptr, [](const ServerRequest&) {
    ServerResponse r;
    r.content_type = "text/event-stream";
    r.body = "event: first\n\n";
    r.interval_s = 0.05;
    auto n = std::make_shared<int>(0);
    r.next = [n]() -> std::optional<std::string> {
      ++*n;
      if (*n == 2) return std::string();  // nothing new this time
      if (*n > 4) return std::nullopt;
      return "data: " + std::to_string(*n) + "\n\n";
    };
    return r;
  });
  ASSERT_TRUE(server.Start().ok());
  RawClient c(server.port());
  c.Send(RawGet("/events"));
  std::string got = c.ReadUntil("data: 4", 5);
  EXPECT_NE(got.find("Content-Type: text/event-stream"), std::string::npos);
  EXPECT_NE(got.find("event: first\n\ndata: 1\n\ndata: 3\n\ndata: 4\n\n"), std::string::npos) << got;
  c.ReadUntil("", 2);
  EXPECT_TRUE(c.closed());
}

TEST(HttpServerBindTest, APortInUseIsAClearError) {
  HttpServer first({}, nullptr, [](const ServerRequest&) { return ServerResponse::Json(200, "{}"); });
  ASSERT_TRUE(first.Start().ok());
  HttpServerOptions o;
  o.port = first.port();
  HttpServer second(o, nullptr, [](const ServerRequest&) { return ServerResponse::Json(200, "{}"); });
  Status st = second.Start();
  EXPECT_EQ(st.code(), Status::Code::kUnavailable);
  EXPECT_NE(st.message().find("cannot listen"), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace porch
