// What the Docker* tests share: the engine's socket and the test image.
//
// scripts/test.sh starts an engine on fresh state and imports the test image
// once, before ctest runs (PORCH_TEST_IMAGE); run by hand without it, each
// test process imports an image under a name of its own and removes it when
// its suite ends, so two test processes never meet on one name.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "backend/docker/docker_client.h"
#include "platform/files.h"
#include "platform/process.h"
#include "test_util.h"

namespace porch {

inline std::string DockerTestSocket() {
  const char* env = getenv("PORCH_DOCKER_SOCKET");
  return env && *env ? env : "/tmp/porch-docker/docker.sock";
}

class DockerTestImage {
 public:
  // Makes the image available; `error()` says why not. An engine of a test's
  // own (use_shared false) never has the suite's image, so it imports one.
  // With `claude_binary`, the image also holds that Claude Code CLI at
  // /usr/local/bin/claude (some 240 MB: imported by the test that asks).
  explicit DockerTestImage(DockerClient& client, bool use_shared = true, const std::string& claude_binary = "")
      : client_(client) {
    const char* shared = use_shared && claude_binary.empty() ? getenv("PORCH_TEST_IMAGE") : nullptr;
    if (shared && *shared) {
      name_ = shared;
      Result<bool> have = client.ImageExists(name_);
      if (!have.ok() || !*have) error_ = "PORCH_TEST_IMAGE '" + name_ + "' is not in the engine";
      return;
    }
    TempDir dir;
    std::string tar = dir.path() + "/image.tar";
    std::vector<std::string> argv = {std::string(PORCH_SOURCE_DIR) + "/scripts/make-test-rootfs.sh", tar,
                                     PORCH_BINARY};
    if (!claude_binary.empty()) argv.push_back(claude_binary);
    Result<ProcessResult> made = RunProcess(argv, dir.path());
    if (!made.ok() || made->exit_code != 0) {
      error_ = "scripts/make-test-rootfs.sh failed";
      return;
    }
    std::string repo = std::string(claude_binary.empty() ? "porch-test-" : "porch-test-cli-") +
                       std::to_string(getpid());
    Status st = client.ImportImage(*ReadFile(tar), repo, "ci");
    if (!st.ok()) {
      error_ = st.ToString();
      return;
    }
    name_ = repo + ":ci";
    owned_ = true;
  }
  ~DockerTestImage() {
    if (owned_) client_.RemoveImage(name_).IgnoreError();
  }
  DockerTestImage(const DockerTestImage&) = delete;
  DockerTestImage& operator=(const DockerTestImage&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& name() const { return name_; }

 private:
  DockerClient& client_;
  std::string name_;
  std::string error_;
  bool owned_ = false;
};

}  // namespace porch
