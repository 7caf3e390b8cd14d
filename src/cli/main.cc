// porch's command line. Parsing only: the commands live in cli/commands.cc.
#include <CLI/CLI.hpp>
#include <signal.h>
#include <cstdio>
#include <string>

#include "cli/commands.h"

namespace {

const char* kFooter = R"(
Exit codes:
  0    everything succeeded
  1    the run finished, but some tasks failed, were skipped or did not run
  2    invalid input: plan, configuration, flags or run id (nothing was run)
  3    porch could not do its job (I/O error, full disk, backend unavailable)
  130  interrupted (Ctrl-C / SIGTERM); `porch resume RUN` continues the run

Configuration: built-in defaults < config file (--config FILE, or ./porch.yaml)
  < environment (PORCH_<KEY>, e.g. PORCH_MAX_EXECUTORS=8) < flags.
  `porch config show` prints every value and where it came from;
  `porch config keys` lists the keys.

Examples:
  porch validate examples/quickstart.yaml
  porch run --plan examples/quickstart.yaml --max-executors 3
  porch status            # the latest run, as a table (--json for scripts)
  porch logs RUN TASK     # stdout of the task's latest attempt
  porch resume RUN        # continue after Ctrl-C, a crash or failures
)";

void AddGlobal(CLI::App* app, porch::GlobalOptions* g) {
  app->add_option("--config", g->config_file, "configuration file (YAML); default ./porch.yaml")
      ->type_name("FILE");
  app->add_option("--output-dir", g->output_dir, "where runs are kept (default porch-runs)")
      ->type_name("DIR");
  app->add_option("--set", g->sets, "set any configuration key, e.g. --set retry.max_retries=3")
      ->type_name("KEY=VALUE");
}

void AddRunFlags(CLI::App* app, porch::GlobalOptions* g) {
  app->add_option("-j,--max-executors", g->max_executors, "M: tasks running at once (default 5)")
      ->type_name("M")
      ->check(CLI::Range(1, 100000));
  app->add_option("--backend", g->backend, "threading (default) | docker | slurm | aws");
  app->add_flag("--fail-fast", g->fail_fast, "start nothing new after the first permanent failure");
  app->add_flag("-q,--quiet", g->quiet, "print only failures and the summary");
  app->add_option("--budget", g->budget_usd, "stop starting AI tasks once this many USD are spent")
      ->type_name("USD");
  app->add_option("--budget-tokens", g->budget_tokens, "... or this many tokens")->type_name("N");
  app->add_flag("--dashboard", g->dashboard, "serve the live dashboard while the run goes on");
  app->add_option("--port", g->port, "dashboard port (default 8470; 0: any free port)")
      ->check(CLI::Range(0, 65535));
  app->add_flag("--json", g->json, "print the summary as JSON on stdout");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "exec-task") {
    // The attempt runner waits for these signals itself (a SIGTERM is a
    // cancellation that must still produce a result file): hold them from
    // the first instruction on, before parsing or loading anything.
    sigset_t hold;
    sigemptyset(&hold);
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&hold, s);
    sigprocmask(SIG_BLOCK, &hold, nullptr);
    // As PID 1 of a container, a process receives only the signals it has a
    // handler for; the handler never runs (the signals stay blocked and are
    // taken with sigtimedwait) but makes SIGTERM reach it.
    struct sigaction act = {};
    act.sa_handler = [](int) {};
    sigemptyset(&act.sa_mask);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaction(s, &act, nullptr);
  }
  CLI::App app{
      "porch: plans a software requirement as a DAG of tasks and runs them in parallel on\n"
      "M executors (local processes, Docker containers, SLURM jobs, or SLURM jobs staged\n"
      "through S3 on AWS ParallelCluster), with retries, a crash-safe journal, resume,\n"
      "and a report."};
  app.name("porch");
  app.footer(kFooter);
  app.require_subcommand(1);
  app.fallthrough();
  porch::GlobalOptions g;
  AddGlobal(&app, &g);

  std::string plan_path, requirements, requirements_file, run_id, run, task, file;
  int attempt = 0;
  bool stderr_only = false, both = false;

  CLI::App* run_cmd = app.add_subcommand("run", "validate a plan and run it");
  run_cmd->add_option("--plan", plan_path, "plan file (JSON or YAML; see docs/plan-format.md)")
      ->type_name("FILE");
  run_cmd->add_option("requirements", requirements,
                      "requirement text: planned by the LLM, then run (instead of --plan)");
  run_cmd->add_option("--requirements-file", requirements_file, "read the requirement from FILE")
      ->type_name("FILE");
  run_cmd->add_flag("--use-bedrock", g.use_bedrock, "plan with Claude on AWS Bedrock");
  run_cmd->add_option("--run-id", run_id, "name the run (default: timestamp + random suffix)");
  AddRunFlags(run_cmd, &g);
  run_cmd->footer(
      "\nExamples:\n  porch run --plan examples/quickstart.yaml -j 3\n"
      "  porch run \"Build a todo list web app with local storage\"\n"
      "Creates <output_dir>/runs/<run-id>/ with the journal, per-attempt logs, output/,\n"
      "metrics.json and report.html. Refuses to reuse an existing run id.");

  CLI::App* plan_cmd = app.add_subcommand("plan", "plan a requirement with the LLM and stop");
  plan_cmd->add_option("requirements", requirements, "the requirement text");
  plan_cmd->add_option("--requirements-file", requirements_file, "read the requirement from FILE")
      ->type_name("FILE");
  std::string plan_id;
  plan_cmd->add_option("--plan-id", plan_id, "name the plan (default: timestamp + suffix)");
  plan_cmd->add_flag("--use-bedrock", g.use_bedrock, "use Claude on AWS Bedrock");
  plan_cmd->add_option("-j,--max-executors", g.max_executors, "M: executors the plan is sized for")
      ->check(CLI::Range(1, 100000));
  plan_cmd->add_flag("--json", g.json, "print the plan and its cost as JSON");
  plan_cmd->footer(
      "\nAsks the model how complex the requirement is and how many tasks it needs, then\n"
      "for the tasks, validates the plan (asking again with the errors when it is invalid),\n"
      "and writes <output_dir>/plans/<id>/plan.json plus the model's raw answers in\n"
      "planner/. Review or edit it, then `porch run --plan FILE`.\n"
      "Credentials: ANTHROPIC_API_KEY (endpoint: ANTHROPIC_BASE_URL or llm.base_url); with\n"
      "--use-bedrock the AWS chain (AWS_ACCESS_KEY_ID..., AWS_PROFILE, ~/.aws) and llm.region.\n\n"
      "Example:\n  porch plan \"Build a todo list web app with local storage\"");

  CLI::App* resume_cmd = app.add_subcommand("resume", "continue a run that was stopped or failed");
  resume_cmd->add_option("run", run, "run id or run directory (default: the latest run)");
  AddRunFlags(resume_cmd, &g);
  resume_cmd->footer(
      "\nTasks that succeeded never run again; attempts still running (porch was killed)\n"
      "are re-adopted, or their results read; failed, skipped and cancelled tasks run\n"
      "again with a fresh retry budget. The run's recorded configuration is used;\n"
      "flags given here override it.\n\nExample:\n  porch resume 20261124-101500-3f2a -j 8");

  CLI::App* status_cmd = app.add_subcommand("status", "show the tasks of a run");
  status_cmd->add_option("run", run, "run id or directory (default: the latest run)");
  status_cmd->add_flag("--json", g.json, "print metrics.json-style JSON");
  status_cmd->footer("\nExample:\n  porch status --json | jq '.run.outcome'");

  CLI::App* runs_cmd = app.add_subcommand("runs", "list runs in the output directory");
  runs_cmd->add_flag("--json", g.json, "print JSON");
  runs_cmd->footer(
      "\nOne line per run in the output directory: id, outcome, tasks done, backend, start.\n\n"
      "Example:\n  porch runs --output-dir /scratch/porch-runs");

  CLI::App* logs_cmd = app.add_subcommand("logs", "print a task attempt's output");
  logs_cmd->add_option("run", run, "run id or directory")->required();
  logs_cmd->add_option("task", task, "task id")->required();
  logs_cmd->add_option("--attempt", attempt, "attempt number (default: the latest)");
  logs_cmd->add_flag("--stderr", stderr_only, "print stderr instead of stdout");
  logs_cmd->add_flag("--both", both, "print stdout and stderr with headers");
  int64_t tail_lines = 0;
  logs_cmd->add_option("--tail", tail_lines, "print only the last N lines")->type_name("N")
      ->check(CLI::NonNegativeNumber);
  logs_cmd->footer("\nStreams the file: any size prints in constant memory.\n\n"
                   "Example:\n  porch logs latest build --stderr --tail 50");

  CLI::App* validate_cmd = app.add_subcommand("validate", "check a plan file without running it");
  validate_cmd->add_option("plan", file, "plan file")->required();
  validate_cmd->add_flag("--json", g.json, "print the verdict as JSON");
  validate_cmd->footer(
      "\nChecks: syntax, unknown fields, duplicate ids, unknown dependencies, cycles\n"
      "(printed as a -> b -> a), empty plan, resource values, outputs that are absolute\n"
      "or contain '..', outputs claimed by two tasks. Exit 2 when invalid.\n\n"
      "Example:\n  porch validate examples/quickstart.yaml");

  CLI::App* config_cmd = app.add_subcommand("config", "inspect the configuration");
  config_cmd->require_subcommand(1);
  CLI::App* show_cmd = config_cmd->add_subcommand("show", "print the effective configuration");
  show_cmd->add_flag("--json", g.json, "print JSON");
  show_cmd->footer("\nEach value is followed by where it came from; secrets are redacted.\n\n"
                   "Example:\n  PORCH_MAX_EXECUTORS=8 porch config show --set retry.jitter=0");
  CLI::App* keys_cmd = config_cmd->add_subcommand("keys", "list configuration keys");
  keys_cmd->footer(
      "\nEvery key with its type and meaning. A key is set in porch.yaml (nested: retry:\n"
      "max_retries: 4), as PORCH_<KEY> (dots become underscores) or with --set key=value.\n\n"
      "Example:\n  porch config keys | grep slurm");

  CLI::App* serve_cmd = app.add_subcommand("serve", "serve the live dashboard for every run");
  serve_cmd->add_option("--host", g.host, "address to bind (default 127.0.0.1)");
  serve_cmd->add_option("--port", g.port, "port (default 8470; 0: any free port)")
      ->check(CLI::Range(0, 65535));
  serve_cmd->add_option("--token", g.token, "required to bind anything but loopback");
  serve_cmd->footer(
      "\nPages: / (runs), /runs/<id> (DAG, timeline, tasks; live). JSON API: /api/runs,\n"
      "/api/runs/<id>, /api/runs/<id>/tasks/<task>, /api/runs/<id>/svg/{dag,gantt}\n"
      "(docs/dashboard.md). It reads the run directories, so it also shows runs of other\n"
      "porch processes.\n\nExample:\n  porch serve --port 8470   # then open http://127.0.0.1:8470/");

  porch::WorkerFlags wf;
  CLI::App* worker_cmd = app.add_subcommand("worker", "run attempts of queue-backend runs (Redis Streams)");
  AddGlobal(worker_cmd, &g);
  worker_cmd->add_option("--queue", wf.queue, "redis://host:port/db (default: queue.url)");
  worker_cmd->add_option("--password-file", wf.password_file,
                         "file holding the Redis password (else PORCH_QUEUE_PASSWORD / REDISCLI_AUTH)");
  worker_cmd->add_option("--slots", wf.slots, "attempts run at once (default: the number of CPUs)")
      ->check(CLI::Range(1, 4096));
  worker_cmd->add_option("--labels", wf.labels, "what this host offers, comma-separated (gpu,...)");
  worker_cmd->add_option("--work-dir", wf.work_dir,
                         "the worker's own files; runs staged through S3 run here (default: in $TMPDIR)");
  worker_cmd->add_option("--name", wf.name, "consumer name, unique among workers (default: host-pid-random)");
  worker_cmd->add_flag("--once", wf.once, "exit once nothing runs and the queue has nothing for this worker");
  worker_cmd->add_option("--idle-exit", wf.idle_exit_s, "exit after this many seconds with nothing to do")
      ->check(CLI::Range(0.0, 1e9));
  worker_cmd->footer(
      "\nTakes attempts that `porch run --backend queue` pushed to Redis and runs each as\n"
      "`porch exec-task` would, in the run directory, which must be on a filesystem this host\n"
      "shares with porch at the same path (NFS), or, for a run with queue.staging=s3, in\n"
      "--work-dir, fetching and sending its files through S3 with this host's credentials\n"
      "(AWS_* env, ~/.aws, the instance role; aws.endpoint). Tasks that need GPUs go only to workers\n"
      "started with --labels gpu. SIGTERM: takes nothing more and finishes what runs (a\n"
      "second SIGTERM stops those; porch runs them again, uncharged). Exit codes: 0 stopped, 2 bad\n"
      "flags, 3 Redis unreachable or refusing the password. docs/queue.md.\n\n"
      "Example:\n  PORCH_QUEUE_PASSWORD=... porch worker --queue redis://10.0.0.5:6379/0 --slots 8");

  CLI::App* report_cmd = app.add_subcommand("report", "rewrite metrics.json and report.html");
  report_cmd->add_option("run", run, "run id or directory (default: the latest run)");
  report_cmd->footer(
      "\nRecomputes metrics.json and report.html from the run's journal (a run killed\n"
      "before it wrote them, or one whose report you deleted).\n\n"
      "Example:\n  porch report latest && xdg-open porch-runs/runs/*/report.html");

  CLI::App* s3_cmd = app.add_subcommand(
      "s3", "copy between a directory and S3 with porch's own client (no AWS CLI needed)");
  AddGlobal(s3_cmd, &g);
  std::string s3_action;
  std::vector<std::string> s3_args;
  bool s3_delete = false;
  s3_cmd->add_option("action", s3_action, "sync | ls | mb")->required();
  s3_cmd->add_option("args", s3_args, "sync: SRC DST (one of them s3://BUCKET/PREFIX); ls, mb: s3://...");
  s3_cmd->add_flag("--delete", s3_delete, "sync: delete what the destination has and the source lacks");
  std::string s3_unchanged_from;
  s3_cmd->add_option("--unchanged-from", s3_unchanged_from,
                     "sync up: skip files identical to those under this s3:// prefix");
  std::vector<std::string> s3_exclude;
  s3_cmd->add_option("--exclude", s3_exclude,
                     "sync up: skip files and directories of this name, at any depth (repeatable)");
  s3_cmd->add_flag("--json", g.json, "print the result as JSON");
  s3_cmd->footer(
      "\nExamples:\n"
      "  porch s3 sync ./results s3://my-bucket/runs/r1      # upload what changed\n"
      "  porch s3 sync s3://my-bucket/runs/r1 ./results --delete\n"
      "  porch s3 ls s3://my-bucket/runs/\n"
      "Region: aws.region or AWS_REGION; endpoint: aws.endpoint (S3-compatible stores use\n"
      "path-style addressing); credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, then\n"
      "~/.aws/credentials and ~/.aws/config (AWS_PROFILE).");

  CLI::App* exec_cmd = app.add_subcommand(
      "exec-task", "run one task attempt here and write its result file (used by backends)");
  std::string run_dir;
  exec_cmd->add_option("--run-dir", run_dir, "the run directory")->required();
  exec_cmd->add_option("--task-id", task, "task id")->required();
  exec_cmd->add_option("--attempt", attempt, "attempt number (1-based)")->required();
  double exec_time_limit = -1, exec_grace = -1;
  exec_cmd->add_option("--time-limit", exec_time_limit,
                       "seconds before the attempt is stopped (0: none; default: the task's "
                       "own, else default_time_limit_seconds)");
  exec_cmd->add_option("--grace", exec_grace,
                       "seconds between SIGTERM and SIGKILL when stopping it (default: "
                       "kill_grace_seconds)");
  exec_cmd->footer(
      "\nWrites tasks/<id>/attempt-<n>/{stdout,stderr,result.json}; result.json appears\n"
      "atomically when the attempt is over. Exit codes: 0 the task succeeded, 1 it\n"
      "failed (result.json says why), 2 bad arguments, 3 no result file could be written.\n\n"
      "Example (what a SLURM job script runs on a node):\n"
      "  porch exec-task --run-dir /shared/porch-runs/runs/r1 --task-id build --attempt 2");

  // Internal: the local backend's spawner (exec/spawner.h), started by porch.
  CLI::App* spawner_cmd = app.add_subcommand("spawner", "");
  spawner_cmd->group("");  // not listed in --help
  int spawner_fd = -1;
  spawner_cmd->add_option("--run-dir", run_dir, "the run directory")->required();
  spawner_cmd->add_option("--fd", spawner_fd, "the socket to porch")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : porch::kExitInvalid;
  }

  if (run_cmd->parsed()) {
    return porch::CmdRun(g, plan_path, requirements, requirements_file, run_id);
  }
  if (plan_cmd->parsed()) return porch::CmdPlan(g, requirements, requirements_file, plan_id);
  if (resume_cmd->parsed()) return porch::CmdResume(g, run);
  if (status_cmd->parsed()) return porch::CmdStatus(g, run);
  if (runs_cmd->parsed()) return porch::CmdRuns(g);
  if (logs_cmd->parsed()) return porch::CmdLogs(g, run, task, attempt, stderr_only, both, tail_lines);
  if (validate_cmd->parsed()) return porch::CmdValidate(g, file);
  if (show_cmd->parsed()) return porch::CmdConfigShow(g);
  if (keys_cmd->parsed()) return porch::CmdConfigKeys();
  if (report_cmd->parsed()) return porch::CmdReport(g, run);
  if (serve_cmd->parsed()) return porch::CmdServe(g);
  if (worker_cmd->parsed()) return porch::CmdWorker(g, wf);
  if (s3_cmd->parsed()) return porch::CmdS3(g, s3_action, s3_args, s3_delete, s3_unchanged_from, s3_exclude);
  if (exec_cmd->parsed()) return porch::CmdExecTask(run_dir, task, attempt, exec_time_limit, exec_grace);
  if (spawner_cmd->parsed()) return porch::CmdSpawner(run_dir, spawner_fd);
  std::fprintf(stderr, "porch: no command given; see porch --help\n");
  return porch::kExitInvalid;
}
