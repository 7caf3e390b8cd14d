// The porch subcommands, independent of argument parsing (cli/main.cc).
// Each returns the process exit code and prints its own errors.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"

namespace porch {

// Exit codes (documented in the README).
constexpr int kExitOk = 0;           // everything succeeded
constexpr int kExitTasksFailed = 1;  // the run ended with failed / skipped / unrun tasks
constexpr int kExitInvalid = 2;      // invalid input: plan, config, flags, run id
constexpr int kExitError = 3;        // porch could not do its job: I/O, journal, backend
constexpr int kExitInterrupted = 130;  // stopped by Ctrl-C / SIGTERM; `porch resume` continues

// Options shared by the commands that read configuration.
struct GlobalOptions {
  std::string config_file;               // --config
  std::vector<std::string> sets;         // --set key=value
  std::string output_dir;                // --output-dir
  std::string backend;                   // --backend
  int max_executors = 0;                 // --max-executors (0: not given)
  bool fail_fast = false;                // --fail-fast
  bool json = false;                     // --json
  bool quiet = false;                    // --quiet
  bool use_bedrock = false;              // --use-bedrock
  std::string budget_usd;                // --budget (USD)
  std::string budget_tokens;             // --budget-tokens
  bool dashboard = false;                // run --dashboard
  std::string host = "127.0.0.1";        // serve / --dashboard
  int port = 8470;
  std::string token;
};

// Applies the command-line layer (--set, --output-dir, --backend,
// --max-executors, --fail-fast) on top of `loader` and checks the result.
Result<LoadedConfig> ApplyFlags(const GlobalOptions& g, ConfigLoader* loader);
// Defaults < config file (--config, else ./porch.yaml) < environment < flags.
Result<LoadedConfig> LoadConfig(const GlobalOptions& g);

int CmdRun(const GlobalOptions& g, const std::string& plan_path, const std::string& requirements,
           const std::string& requirements_file, const std::string& run_id);
int CmdPlan(const GlobalOptions& g, const std::string& requirements,
            const std::string& requirements_file, const std::string& plan_id);
int CmdResume(const GlobalOptions& g, const std::string& run);
int CmdStatus(const GlobalOptions& g, const std::string& run);
int CmdRuns(const GlobalOptions& g);
int CmdLogs(const GlobalOptions& g, const std::string& run, const std::string& task, int attempt,
            bool stderr_only, bool both, int64_t tail_lines);
int CmdValidate(const GlobalOptions& g, const std::string& plan_path);
int CmdConfigShow(const GlobalOptions& g);
int CmdConfigKeys();
int CmdReport(const GlobalOptions& g, const std::string& run);
int CmdServe(const GlobalOptions& g);
// porch s3 sync SRC DST [--delete] | ls URL | mb URL: porch's own S3 client
// (aws.region, aws.endpoint, the standard credential chain).
int CmdS3(const GlobalOptions& g, const std::string& action, const std::vector<std::string>& args,
          bool delete_extra, const std::string& unchanged_from,
          const std::vector<std::string>& exclude = {});

// porch worker: serves the queue backend's attempts (src/queue/worker.h).
struct WorkerFlags {
  std::string queue;          // empty: queue.url
  std::string password_file;  // empty: queue.password_file / env
  int slots = 0;              // 0: the number of CPUs
  std::string labels;         // comma-separated
  std::string work_dir;       // empty: $TMPDIR/porch-worker-<name>
  std::string name;           // empty: <host>-<pid>-<random>
  bool once = false;
  double idle_exit_s = 0;
};
int CmdWorker(const GlobalOptions& g, const WorkerFlags& f);

// time_limit_s / grace_s < 0: from the task and the run's config.
// The local backend's spawner (exec/spawner.h): internal, started by porch.
int CmdSpawner(const std::string& run_dir, int fd);

int CmdExecTask(const std::string& run_dir, const std::string& task_id, int attempt,
                double time_limit_s = -1, double grace_s = -1);

}  // namespace porch
