// DashboardBrowser: the live dashboard in a real headless Chromium
// (tests/web/browser_test.mjs, playwright-core) while a real run goes on.
// Skips with the reason when chromium, node or playwright-core is missing;
// scripts/test.sh installs them (scripts/install-browser-test.sh).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <regex>
#include <thread>

#include "integration/porch_process.h"
#include "platform/files.h"
#include "test_util.h"

namespace porch {
namespace {

std::string BrowserDeps() {
  const char* env = getenv("PORCH_BROWSER_DEPS");
  return env && *env ? env : std::string(PORCH_SOURCE_DIR) + "/.deps/browser";
}

TEST(DashboardBrowserTest, LiveRunInChromium) {
  std::string deps = BrowserDeps();
  if (access("/usr/bin/chromium", X_OK) != 0 || system("command -v node >/dev/null") != 0 ||
      !PathExists(deps + "/node_modules/playwright-core/package.json")) {
    PORCH_SKIP_OR_FAIL("chromium, node or playwright-core missing (run scripts/install-browser-test.sh)");
  }
  TempDir dir;
  // fetch waits (at most 2 minutes) until the browser shows the page.
  const std::string go = dir.path() + "/go";
  EXPECT_TRUE(WriteFileAtomic(dir.path() + "/plan.yaml",
                  "tasks:\n"
                  "  - {id: fetch, command: 'for i in $(seq 1200); do [ -e " + go +
                      " ] && break; sleep 0.1; done'}\n"
                  "  - {id: build, command: 'sleep 2.5', depends_on: [fetch]}\n"
                  "  - {id: docs, command: 'sleep 1.5', depends_on: [fetch]}\n"
                  "  - {id: package, command: 'sleep 1', depends_on: [build, docs]}\n").ok());
  PorchProcess run(dir.path(), {"run", "--plan", "plan.yaml", "--run-id", "live", "--dashboard",
                                "--port", "0", "-j", "2"});
  std::string url;
  for (int i = 0; i < 500 && url.empty(); ++i) {
    std::smatch m;
    std::string err = run.ErrSoFar();
    if (std::regex_search(err, m, std::regex("dashboard at (http://[^ \\n]+)/"))) url = m[1];
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(url.empty()) << run.ErrSoFar();
  std::string out_dir = std::string(PORCH_BINARY).substr(0, std::string(PORCH_BINARY).rfind('/')) + "/test-output";
  EXPECT_TRUE(MakeDirs(out_dir).ok());
  std::string shot = out_dir + "/dashboard.png";
  std::string cmd = "PORCH_BROWSER_DEPS='" + deps + "' timeout 90 node '" + PORCH_SOURCE_DIR +
                    "/tests/web/browser_test.mjs' '" + url + "/runs/live' fetch,build,docs,package build '" +
                    shot + "' '" + go + "' > '" + dir.path() + "/node.txt' 2>&1";
  int rc = system(cmd.c_str());
  std::string node_out = ReadFile(dir.path() + "/node.txt").ok() ? *ReadFile(dir.path() + "/node.txt") : "";
  PorchRun result = run.Wait();
  EXPECT_EQ(WEXITSTATUS(rc), 0) << node_out;
  EXPECT_NE(node_out.find("running -> succeeded"), std::string::npos) << node_out;
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(PathExists(shot));
}

}  // namespace
}  // namespace porch
