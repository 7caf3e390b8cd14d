#include "cli/commands.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "agent/planner.h"
#include "backend/aws/aws_backend.h"
#include "s3/s3_client.h"
#include "s3/sync.h"
#include "backend/factory.h"
#include "llm/factory.h"
#include "platform/http.h"
#include "cli/progress.h"
#include "config/config.h"
#include "core/strings.h"
#include "exec/attempt.h"
#include "exec/run_attempts.h"
#include "exec/spawner.h"
#include "plan/dag.h"
#include "plan/plan_parser.h"
#include "plan/validate.h"
#include "platform/clock.h"
#include "platform/files.h"
#include "platform/signals.h"
#include "report/metrics.h"
#include "model/run_layout.h"
#include "run/plan_stage.h"
#include "run/runner.h"
#include "web/dashboard.h"

namespace porch {

namespace {

using nlohmann::json;

int Fail(const Status& st) {
  std::fprintf(stderr, "porch: error: %s\n", st.message().c_str());
  switch (st.code()) {
    case Status::Code::kInvalidArgument:
    case Status::Code::kAlreadyExists:
    case Status::Code::kNotFound:
      return kExitInvalid;
    case Status::Code::kCancelled:
      return kExitInterrupted;
    default:
      return kExitError;
  }
}

uint64_t MaxPlanBytes(const Config& c) {
  return ParseMemory(c.limits.max_plan_bytes).value_or(kDefaultMaxPlanBytes);
}

}  // namespace

// Defaults < config file < environment < flags.
Result<LoadedConfig> LoadConfig(const GlobalOptions& g) {
  ConfigLoader loader;
  if (!g.config_file.empty()) {
    PORCH_RETURN_IF_ERROR(loader.ApplyFile(g.config_file));
  } else if (PathExists("porch.yaml")) {
    PORCH_RETURN_IF_ERROR(loader.ApplyFile("porch.yaml"));
  }
  PORCH_RETURN_IF_ERROR(loader.ApplyEnv(CurrentEnvironment()));
  return ApplyFlags(g, &loader);
}


Result<LoadedConfig> ApplyFlags(const GlobalOptions& g, ConfigLoader* loader) {
  for (const std::string& kv : g.sets) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) {
      return Status::InvalidArgument("--set expects KEY=VALUE, found '" + kv + "'");
    }
    PORCH_RETURN_IF_ERROR(loader->ApplyFlag(kv.substr(0, eq), kv.substr(eq + 1), "--set"));
  }
  if (!g.output_dir.empty()) {
    PORCH_RETURN_IF_ERROR(loader->ApplyFlag("output_dir", g.output_dir, "--output-dir"));
  }
  if (!g.backend.empty()) PORCH_RETURN_IF_ERROR(loader->ApplyFlag("backend", g.backend, "--backend"));
  if (g.max_executors != 0) {
    PORCH_RETURN_IF_ERROR(
        loader->ApplyFlag("max_executors", std::to_string(g.max_executors), "--max-executors"));
  }
  if (g.fail_fast) PORCH_RETURN_IF_ERROR(loader->ApplyFlag("fail_fast", "true", "--fail-fast"));
  if (!g.budget_usd.empty()) {
    PORCH_RETURN_IF_ERROR(loader->ApplyFlag("budget.usd", g.budget_usd, "--budget"));
  }
  if (!g.budget_tokens.empty()) {
    PORCH_RETURN_IF_ERROR(loader->ApplyFlag("budget.tokens", g.budget_tokens, "--budget-tokens"));
  }
  if (g.use_bedrock) {
    PORCH_RETURN_IF_ERROR(loader->ApplyFlag("llm.provider", "bedrock", "--use-bedrock"));
  }
  PORCH_RETURN_IF_ERROR(loader->Check());
  return loader->loaded();
}

namespace {

Result<std::string> ResolveRun(const std::string& output_dir, const std::string& run) {
  if (!run.empty() && run != "latest" && PathExists(RunLayout(run).journal())) return run;
  std::string runs = RunLayout::RunsDir(output_dir);
  if (run.empty() || run == "latest") {
    Result<std::vector<std::string>> names = ListDir(runs);
    if (names.ok()) {
      for (auto it = names->rbegin(); it != names->rend(); ++it) {
        std::string dir = RunLayout::RunDir(output_dir, *it);
        if (PathExists(RunLayout(dir).journal())) return dir;
      }
    }
    return Status::NotFound("no runs in '" + runs +
                            "'; start one with `porch run --plan FILE` (or pass --output-dir)");
  }
  std::string dir = RunLayout::RunDir(output_dir, run);
  if (PathExists(RunLayout(dir).journal())) return dir;
  return Status::NotFound("no run '" + run + "' in '" + runs + "' (list them with `porch runs`)");
}

std::string Pad(std::string s, size_t width) {
  if (s.size() < width) s.resize(width, ' ');
  return s;
}

int Finish(const RunOutcome& outcome, const GlobalOptions& g) {
  const RunSummary& s = outcome.summary;
  const RunCounts& c = s.counts;
  size_t total = c.succeeded + c.failed + c.skipped + c.cancelled + c.pending + c.retry_wait;
  double makespan = s.finished_at - s.started_at;
  std::string verdict = s.interrupted ? "interrupted" : s.all_succeeded() ? "succeeded" : "failed";
  if (g.json) {
    json j = {{"run_id", outcome.run_id},
              {"run_dir", outcome.run_dir},
              {"outcome", verdict},
              {"tasks", total},
              {"succeeded", c.succeeded},
              {"failed", c.failed},
              {"skipped", c.skipped},
              {"cancelled", c.cancelled},
              {"not_run", c.pending + c.retry_wait},
              {"cost_usd", s.spent_usd},
              {"tokens", s.spent_tokens},
              {"budget_exhausted", s.budget_exhausted},
              {"elapsed_s", makespan},
              {"report", outcome.report_path},
              {"metrics", outcome.metrics_path}};
    std::cout << j.dump(2) << "\n";
  } else {
    std::printf("porch: run %s %s: %zu/%zu tasks succeeded in %s\n", outcome.run_id.c_str(),
                verdict.c_str(), c.succeeded, total, FormatDuration(makespan).c_str());
    if (c.failed || c.skipped || c.cancelled || c.pending + c.retry_wait) {
      std::printf("  failed: %zu  skipped: %zu  cancelled: %zu  not run: %zu\n", c.failed,
                  c.skipped, c.cancelled, c.pending + c.retry_wait);
    }
    if (s.spent_usd > 0 || s.spent_tokens > 0) {
      std::printf("  AI usage: %lld tokens, $%.4f\n", static_cast<long long>(s.spent_tokens),
                  s.spent_usd);
    }
    if (s.budget_exhausted) {
      std::printf("  budget exhausted: AI tasks were not started after $%.4f / %lld tokens were "
                  "spent (raise budget.usd / budget.tokens and `porch resume`)\n",
                  s.spent_usd, static_cast<long long>(s.spent_tokens));
    }
    std::printf("  metrics: %s\n  report:  %s\n", outcome.metrics_path.c_str(),
                outcome.report_path.c_str());
    if (s.interrupted || c.failed || c.cancelled) {
      std::printf("  details: porch status %s   continue: porch resume %s\n",
                  outcome.run_id.c_str(), outcome.run_id.c_str());
    }
  }
  if (s.interrupted) return kExitInterrupted;
  return s.all_succeeded() ? kExitOk : kExitTasksFailed;
}

// This process's environment with the LLM access resolved into it and into
// *config (llm/factory.h): what the planner and every attempt get.
Result<std::map<std::string, std::string>> AgentEnvironment(LoadedConfig* config) {
  std::map<std::string, std::string> env = CurrentEnvironment();
  auto home = env.find("HOME");
  PORCH_RETURN_IF_ERROR(ResolveLlmAccess(config, &env, home == env.end() ? "" : home->second));
  // What attempts need of the configuration is in the run's config.json,
  // resolved with every layer (flags included): PORCH_* settings left in
  // their environment would be applied over it where they start and beat a
  // --set given here. The key travels as ANTHROPIC_API_KEY.
  for (const auto& [key, description] : ConfigKeys()) env.erase(EnvNameForKey(key));
  return env;
}

// `run_started`: when the run began (a resumed run's first start; 0: now),
// the zero of the elapsed times printed.
int Drive(const GlobalOptions& g, const LoadedConfig& config,
          const std::map<std::string, std::string>& agent_env, size_t tasks,
          const std::function<Result<RunOutcome>(Runner&)>& go, double run_started = 0) {
  SignalGuard signals;
  RealClock clock;
  std::unique_ptr<Dashboard> dashboard;
  if (g.dashboard) {
    DashboardOptions o{config.config.output_dir, g.host, g.port, g.token};
    dashboard = std::make_unique<Dashboard>(o);
    if (Status st = dashboard->Start(); !st.ok()) return Fail(st.Annotate("dashboard"));
    std::fprintf(stderr, "porch: dashboard at %s/\n", dashboard->url().c_str());
  }
  bool tty = isatty(STDERR_FILENO);
  const double now = clock.Now();
  ProgressPrinter progress(stderr, tty, g.quiet,
                           run_started > 0 && run_started < now ? run_started : now, tasks);
  BackendFactory factory = [env = agent_env](const Config& c, const RunLayout& l,
                                                        const RunIdentity& id, Clock* clk,
                                                        const Plan&) {
    return CreateBackend(c, l, id, clk, env);
  };
  Runner runner(&clock, factory, &progress, [] { return SignalGuard::interrupted(); });
  Result<RunOutcome> outcome = go(runner);
  progress.Done();
  if (!outcome.ok()) return Fail(outcome.status());
  return Finish(*outcome, g);
}

}  // namespace

namespace {

Result<std::string> RequirementText(const LoadedConfig& config, const std::string& text,
                                    const std::string& file) {
  if (!file.empty()) {
    Result<std::string> content = ReadFile(file);
    if (!content.ok()) return content.status().Annotate("cannot read the requirements file");
    return *content;
  }
  if (!text.empty()) return text;
  if (!config.config.requirements.empty()) return config.config.requirements;
  return Status::InvalidArgument(
      "no requirement given: pass it as an argument, with --requirements-file FILE, or as "
      "'requirements' in the configuration");
}

void PrintPlan(const PlanResult& r, const std::string& plan_path, const Config& config) {
  std::printf("complexity %d/10: %s\n", r.complexity.score, r.complexity.rationale.c_str());
  std::printf("%s %s %s %s\n", Pad("TASK", 18).c_str(), Pad("DEPENDS ON", 22).c_str(),
              Pad("OUTPUTS", 30).c_str(), "TITLE");
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const std::string& x : v) s += (s.empty() ? "" : ",") + x;
    return s.empty() ? std::string("-") : s;
  };
  for (const Task& t : r.plan.tasks) {
    std::printf("%s %s %s %s\n", Pad(t.id, 18).c_str(), Pad(join(t.depends_on), 22).c_str(),
                Pad(join(t.outputs), 30).c_str(), t.title.c_str());
  }
  Result<ModelPrice> price = ConfiguredPrice(config);
  std::printf("%zu tasks (%d plan answer%s); tokens: %lld in, %lld out, %lld cache write, "
              "%lld cache read; estimated cost $%.4f\n",
              r.plan.tasks.size(), r.plan_attempts, r.plan_attempts == 1 ? "" : "s",
              static_cast<long long>(r.usage.input_tokens),
              static_cast<long long>(r.usage.output_tokens),
              static_cast<long long>(r.usage.cache_creation_input_tokens),
              static_cast<long long>(r.usage.cache_read_input_tokens),
              price.ok() ? CostUsd(r.usage, *price) : 0.0);
  std::printf("plan: %s\n", plan_path.c_str());
}

}  // namespace

int CmdPlan(const GlobalOptions& g, const std::string& requirements_arg,
            const std::string& requirements_file, const std::string& plan_id_flag) {
  Result<LoadedConfig> config = LoadConfig(g);
  if (!config.ok()) return Fail(config.status());
  Result<std::string> requirements = RequirementText(*config, requirements_arg, requirements_file);
  if (!requirements.ok()) return Fail(requirements.status());
  std::string plan_id = plan_id_flag.empty() ? NewRunId(RealClock().Now()) : plan_id_flag;
  std::string dir = config->config.output_dir + "/plans/" + plan_id;
  if (PathExists(dir)) return Fail(Status::AlreadyExists("plan '" + dir + "' already exists"));
  Result<std::map<std::string, std::string>> resolved = AgentEnvironment(&*config);
  if (!resolved.ok()) return Fail(resolved.status());
  const std::map<std::string, std::string>& env = *resolved;
  Result<PlanResult> result = PlanRequirement(*config, *requirements, dir, env);
  if (!result.ok()) return Fail(result.status());
  std::string plan_path = dir + "/plan.json";
  if (Status st = WriteFileAtomic(plan_path, PlanToJsonText(result->plan)); !st.ok()) return Fail(st);
  if (g.json) {
    json j = json::parse(*ReadFile(dir + "/planner/summary.json"));
    j["plan"] = plan_path;
    j["plan_tasks"] = PlanToJson(result->plan)["tasks"];
    std::cout << j.dump(2) << "\n";
  } else {
    PrintPlan(*result, plan_path, config->config);
    std::printf("review or edit it, then: porch run --plan %s\n", plan_path.c_str());
  }
  return kExitOk;
}

int CmdRun(const GlobalOptions& g, const std::string& plan_path, const std::string& requirements,
           const std::string& requirements_file, const std::string& run_id_flag) {
  Result<LoadedConfig> config = LoadConfig(g);
  if (!config.ok()) return Fail(config.status());
  Result<std::map<std::string, std::string>> resolved = AgentEnvironment(&*config);
  if (!resolved.ok()) return Fail(resolved.status());
  const std::map<std::string, std::string>& env = *resolved;
  std::string run_id = run_id_flag;
  if (run_id.empty()) {
    run_id = NewRunId(RealClock().Now());
  } else if (Status st = CheckId(run_id, "run id"); !st.ok()) {
    return Fail(st.Annotate("bad --run-id"));
  }
  if (plan_path.empty()) {
    // Plan the requirement, then run the plan, in one run directory.
    Result<std::string> text = RequirementText(*config, requirements, requirements_file);
    if (!text.ok()) return Fail(text.status());
    std::string run_dir = RunLayout::RunDir(config->config.output_dir, run_id);
    if (PathExists(run_dir)) {
      return Fail(Status::AlreadyExists("run '" + run_id + "' already exists in '" + run_dir + "'"));
    }
    {
      // Planned tasks are AI tasks: refuse an endpoint they cannot reach
      // before paying for the plan.
      Plan agents;
      agents.tasks.emplace_back().prompt = "planned";
      if (Status st = CheckAgentEndpoint(config->config, agents); !st.ok()) return Fail(st);
    }
    Result<PlanResult> planned = PlanRequirement(*config, *text, run_dir, env);
    if (!planned.ok()) return Fail(planned.status());
    PrintPlan(*planned, RunLayout(run_dir).plan(), config->config);
    return Drive(g, *config, env, planned->plan.tasks.size(), [&](Runner& r) -> Result<RunOutcome> {
      Result<std::string> dir = r.Create(planned->plan, *config, run_id);
      if (!dir.ok()) return dir.status();
      return r.RunCreated(*dir, planned->plan, *config);
    });
  }
  Result<Plan> plan = LoadPlanFile(plan_path, MaxPlanBytes(config->config));
  if (!plan.ok()) return Fail(plan.status());
  if (Status st = ValidatePlan(*plan); !st.ok()) return Fail(st);
  if (!requirements.empty()) plan->requirements = requirements;
  if (Status st = CheckAgentEndpoint(config->config, *plan); !st.ok()) return Fail(st);
  std::fprintf(stderr, "porch: run %s: %zu tasks, backend %s, M=%d, in %s\n", run_id.c_str(),
               plan->tasks.size(), config->config.backend.c_str(), config->config.max_executors,
               RunLayout::RunDir(config->config.output_dir, run_id).c_str());
  return Drive(g, *config, env, plan->tasks.size(),
               [&](Runner& r) { return r.Start(*plan, *config, run_id); });
}

int CmdResume(const GlobalOptions& g, const std::string& run) {
  // Where runs live comes from the usual layers; the run's own configuration
  // is then the base, and only flags given now override it.
  Result<LoadedConfig> where = LoadConfig(g);
  if (!where.ok()) return Fail(where.status());
  const std::string& output_dir = where->config.output_dir;
  Result<std::string> dir = ResolveRun(output_dir, run);
  if (!dir.ok()) return Fail(dir.status());
  Result<LoadedRun> loaded = LoadRun(*dir);
  if (!loaded.ok()) return Fail(loaded.status());
  ConfigLoader loader;
  // Its values were resolved at the start (flags > environment > file) and
  // keep their place: the environment now does not change a resumed run.
  if (Status st = loader.ApplyFile(RunLayout(*dir).config(), "run"); !st.ok()) return Fail(st);
  Result<LoadedConfig> config = ApplyFlags(g, &loader);
  if (!config.ok()) return Fail(config.status());
  // The run's config.json keeps no secrets: a key from the config file or
  // PORCH_LLM_API_KEY comes from the usual layers now.
  if (config->config.llm.api_key.empty() && !where->config.llm.api_key.empty()) {
    config->config.llm.api_key = where->config.llm.api_key;
    config->sources["llm.api_key"] = where->sources["llm.api_key"];
  }
  Result<std::map<std::string, std::string>> resolved = AgentEnvironment(&*config);
  if (!resolved.ok()) return Fail(resolved.status());
  const std::map<std::string, std::string>& env = *resolved;
  if (Status st = CheckAgentEndpoint(config->config, loaded->plan); !st.ok()) return Fail(st);
  size_t done = 0;
  for (const auto& [id, rec] : loaded->state.tasks) done += rec.state == TaskState::kSucceeded;
  std::fprintf(stderr, "porch: resuming run %s: %zu of %zu tasks already succeeded\n",
               loaded->state.run_id.c_str(), done, loaded->plan.tasks.size());
  return Drive(g, *config, env, loaded->plan.tasks.size(),
               [&](Runner& r) { return r.Resume(*dir, *config); }, loaded->state.started_at);
}

// The run `run` (an id, a directory or "latest") in the configured output
// directory, loaded.
Result<LoadedRun> LoadNamedRun(const GlobalOptions& g, const std::string& run) {
  Result<LoadedConfig> config = LoadConfig(g);
  if (!config.ok()) return config.status();
  Result<std::string> dir = ResolveRun(config->config.output_dir, run);
  if (!dir.ok()) return dir.status();
  return LoadRun(*dir);
}

namespace {

// The queue backend's workers as the run last saw them (workers.json).
void PrintWorkers(const json& workers) {
  if (workers.empty()) return;
  std::printf("\nworkers (as the run last saw them):\n%s %s %s %s %s %s\n", Pad("WORKER", 28).c_str(),
              Pad("HOST", 20).c_str(), Pad("SLOTS", 5).c_str(), Pad("RUNNING", 7).c_str(), Pad("LABELS", 12).c_str(),
              "LAST HEARTBEAT");
  const double now = WallSeconds();
  for (const json& w : workers) {
    auto text = [&](const char* k) { return w.contains(k) && w[k].is_string() ? w[k].get<std::string>() : ""; };
    auto number = [&](const char* k) { return w.contains(k) && w[k].is_number() ? w[k].get<double>() : 0.0; };
    std::string labels;
    if (w.contains("labels") && w["labels"].is_array()) {
      for (const json& l : w["labels"]) labels += (labels.empty() ? "" : ",") + (l.is_string() ? l.get<std::string>() : "");
    }
    std::printf("%s %s %s %s %s %s ago\n", Pad(text("name"), 28).c_str(), Pad(text("host"), 20).c_str(),
                Pad(std::to_string(static_cast<int>(number("slots"))), 5).c_str(),
                Pad(std::to_string(static_cast<int>(number("running"))), 7).c_str(),
                Pad(labels.empty() ? "-" : labels, 12).c_str(), FormatDuration(std::max(0.0, now - number("beat"))).c_str());
  }
}

}  // namespace

int CmdStatus(const GlobalOptions& g, const std::string& run) {
  Result<LoadedRun> loaded = LoadNamedRun(g, run);
  if (!loaded.ok()) return Fail(loaded.status());
  Dag dag(loaded->plan);
  RunMetrics m = ComputeMetrics(loaded->plan, dag, loaded->state,
                                loaded->config.config.max_executors);
  const json workers = ReadWorkersSnapshot(RunLayout(loaded->run_dir));
  if (g.json) {
    std::string out = MetricsToJson(m);
    // The queue backend's workers beside the metrics (one more member).
    if (size_t end = out.rfind('}'); !workers.empty() && end != std::string::npos) {
      out.insert(end, ",\"workers\":" + workers.dump());
    }
    std::cout << out;
    return kExitOk;
  }
  std::printf("run %s (%s, backend %s, M=%d): %zu succeeded, %zu failed, %zu skipped, "
              "%zu cancelled, %zu not finished\n",
              m.run_id.c_str(), m.outcome.c_str(), m.backend.c_str(), m.max_executors,
              m.succeeded, m.failed, m.skipped, m.cancelled, m.pending);
  std::printf("%s %s %s %s %s %s\n", Pad("TASK", 24).c_str(), Pad("STATE", 11).c_str(),
              Pad("ATTEMPTS", 8).c_str(), Pad("DURATION", 10).c_str(), Pad("EXIT", 5).c_str(),
              "DETAIL");
  for (const TaskMetrics& t : m.tasks) {
    std::string exit = t.attempts.empty() ? "-" : std::to_string(t.attempts.back().exit_code);
    std::string detail = t.skip_reason;
    if (detail.empty() && !t.attempts.empty()) detail = t.attempts.back().detail;
    if (t.state == TaskState::kCancelled) detail = "interrupted; runs again on resume (" + detail + ")";
    if (t.state == TaskState::kPending && !t.attempts.empty()) {
      detail = "waits to run again, no retry charged (" + detail + ")";
    }
    auto record = loaded->state.tasks.find(t.id);
    const bool queued = record != loaded->state.tasks.end() && WaitsForSlot(record->second);
    if (queued) detail = "held by the backend until an executor slot is free";
    std::printf("%s %s %s %s %s %s\n", Pad(t.id, 24).c_str(),
                Pad(queued ? "queued" : TaskStateName(t.state), 11).c_str(),
                Pad(std::to_string(t.attempts.size()), 8).c_str(),
                Pad(t.attempts.empty() ? "-" : FormatDuration(t.duration), 10).c_str(),
                Pad(exit, 5).c_str(), detail.c_str());
  }
  PrintWorkers(workers);
  return kExitOk;
}

int CmdRuns(const GlobalOptions& g) {
  Result<LoadedConfig> config = LoadConfig(g);
  if (!config.ok()) return Fail(config.status());
  std::string runs = RunLayout::RunsDir(config->config.output_dir);
  Result<std::vector<std::string>> names = ListDir(runs);
  json list = json::array();
  if (!g.json) {
    std::printf("%s %s %s %s %s\n", Pad("RUN", 26).c_str(), Pad("OUTCOME", 12).c_str(),
                Pad("BACKEND", 10).c_str(), Pad("OK/FAILED/TOTAL", 16).c_str(), "MAKESPAN");
  }
  if (names.ok()) {
    for (const std::string& name : *names) {
      const std::string dir = RunLayout::RunDir(config->config.output_dir, name);
      if (!IsDirectory(dir)) continue;
      Result<LoadedRun> run = LoadRun(dir);
      if (!run.ok() && run.status().code() == Status::Code::kNotFound) continue;  // not a run
      if (!run.ok()) {
        // One damaged run must not hide the others: listed, marked, explained.
        if (g.json) {
          list.push_back({{"run_id", name}, {"outcome", "damaged"},
                          {"error", run.status().message()}});
        } else {
          std::printf("%s %s\n", Pad(name, 26).c_str(), Pad("damaged", 12).c_str());
          std::fprintf(stderr, "porch: run %s is damaged: %s\n", name.c_str(),
                       run.status().message().c_str());
        }
        continue;
      }
      Dag dag(run->plan);
      RunMetrics m = ComputeMetrics(run->plan, dag, run->state, run->config.config.max_executors);
      if (g.json) {
        list.push_back({{"run_id", name},
                        {"outcome", m.outcome},
                        {"backend", m.backend},
                        {"tasks", m.tasks.size()},
                        {"succeeded", m.succeeded},
                        {"failed", m.failed},
                        {"makespan_s", m.makespan}});
      } else {
        std::printf("%s %s %s %s %s\n", Pad(name, 26).c_str(), Pad(m.outcome, 12).c_str(),
                    Pad(m.backend, 10).c_str(),
                    Pad(std::to_string(m.succeeded) + "/" + std::to_string(m.failed) + "/" +
                            std::to_string(m.tasks.size()),
                        16)
                        .c_str(),
                    FormatDuration(m.makespan).c_str());
      }
    }
  }
  if (g.json) std::cout << list.dump(2) << "\n";
  return kExitOk;
}

int CmdLogs(const GlobalOptions& g, const std::string& run, const std::string& task, int attempt,
            bool stderr_only, bool both, int64_t tail_lines) {
  Result<LoadedRun> loaded = LoadNamedRun(g, run);
  if (!loaded.ok()) return Fail(loaded.status());
  auto it = loaded->state.tasks.find(task);
  if (it == loaded->state.tasks.end() || it->second.attempts.empty()) {
    bool known = Dag(loaded->plan).Find(task) >= 0;
    return Fail(Status::NotFound(known ? "task '" + task + "' has not run yet"
                                       : "run has no task '" + task + "'"));
  }
  int n = attempt > 0 ? attempt : it->second.last_attempt();
  RunLayout layout(loaded->run_dir);
  // A command attempt that printed nothing has no directory (nothing to
  // show); an attempt the journal does not know is an error.
  bool journaled = false;
  for (const AttemptRecord& a : it->second.attempts) journaled |= a.number == n;
  if (!journaled && !PathExists(layout.attempt_dir(task, n))) {
    return Fail(Status::NotFound("task '" + task + "' has no attempt " + std::to_string(n) +
                                 " (it has " + std::to_string(it->second.last_attempt()) + ")"));
  }
  auto dump = [&](const std::string& path, const char* label) {
    if (both) std::printf("==> %s (%s) <==\n", label, path.c_str());
    std::fflush(stdout);
    if (PathExists(path)) StreamFile(path, 1, tail_lines).IgnoreError();  // a closed pipe (| head) is fine
  };
  if (both || !stderr_only) dump(layout.stdout_path(task, n), "stdout");
  if (both || stderr_only) dump(layout.stderr_path(task, n), "stderr");
  return kExitOk;
}

int CmdValidate(const GlobalOptions& g, const std::string& plan_path) {
  Result<LoadedConfig> config = LoadConfig(g);
  if (!config.ok()) return Fail(config.status());
  Result<Plan> plan = LoadPlanFile(plan_path, MaxPlanBytes(config->config));
  Status st = plan.ok() ? ValidatePlan(*plan) : plan.status();
  if (g.json) {
    json j = {{"file", plan_path}, {"valid", st.ok()}};
    if (!st.ok()) j["errors"] = st.message();
    if (st.ok()) j["tasks"] = plan->tasks.size();
    std::cout << j.dump(2) << "\n";
    return st.ok() ? kExitOk : kExitInvalid;
  }
  if (!st.ok()) return Fail(st);
  Dag dag(*plan);
  std::vector<uint32_t> path = dag.RemainingPathLengths();
  uint32_t longest = 0;
  size_t edges = 0;
  for (Dag::Index i = 0; i < dag.size(); ++i) {
    longest = std::max(longest, path[i]);
    edges += dag.deps(i).size();
  }
  std::printf("%s: valid plan: %zu tasks, %zu dependencies, longest chain %u tasks\n",
              plan_path.c_str(), plan->tasks.size(), edges, longest);
  return kExitOk;
}

int CmdConfigShow(const GlobalOptions& g) {
  Result<LoadedConfig> config = LoadConfig(g);
  if (!config.ok()) return Fail(config.status());
  std::cout << (g.json ? FormatConfigJson(*config) : FormatConfig(*config));
  return kExitOk;
}

int CmdConfigKeys() {
  for (const auto& [key, help] : ConfigKeys()) {
    std::printf("%s %s %s\n", Pad(key, 30).c_str(), Pad(EnvNameForKey(key), 34).c_str(),
                help.c_str());
  }
  return kExitOk;
}

int CmdReport(const GlobalOptions& g, const std::string& run) {
  Result<LoadedRun> loaded = LoadNamedRun(g, run);
  if (!loaded.ok()) return Fail(loaded.status());
  if (Status st = WriteRunReport(*loaded); !st.ok()) return Fail(st);
  std::printf("%s\n", RunLayout(loaded->run_dir).report().c_str());
  return kExitOk;
}

int CmdServe(const GlobalOptions& g) {
  Result<LoadedConfig> config = LoadConfig(g);
  if (!config.ok()) return Fail(config.status());
  SignalGuard signals;
  Dashboard dashboard({config->config.output_dir, g.host, g.port, g.token});
  if (Status st = dashboard.Start(); !st.ok()) return Fail(st);
  std::printf("porch: serving %s on %s/ (Ctrl-C stops)\n", config->config.output_dir.c_str(),
              dashboard.url().c_str());
  std::fflush(stdout);
  RealClock clock;
  while (!SignalGuard::interrupted()) clock.SleepUntil(clock.Now() + 3600);
  dashboard.Stop();
  return kExitOk;
}

int CmdExecTask(const std::string& run_dir, const std::string& task_id, int attempt,
                double time_limit_s, double grace_s) {
  Result<std::unique_ptr<RunAttempts>> run = RunAttempts::Load(run_dir, CurrentEnvironment());
  if (!run.ok()) {
    std::fprintf(stderr, "porch exec-task: %s\n", run.status().message().c_str());
    return kExecUsage;
  }
  Result<AttemptSpec> spec = (*run)->Prepare(task_id, attempt, time_limit_s, grace_s);
  if (!spec.ok()) {
    std::fprintf(stderr, "porch exec-task: %s\n", spec.status().message().c_str());
    return spec.status().code() == Status::Code::kInvalidArgument ? kExecUsage : kExecNoResult;
  }
  return RunAttempt(*spec);
}

int CmdSpawner(const std::string& run_dir, int fd) { return ServeSpawner(run_dir, fd); }

int CmdS3(const GlobalOptions& g, const std::string& action, const std::vector<std::string>& args,
          bool delete_extra, const std::string& unchanged_from,
          const std::vector<std::string>& exclude) {
  Result<LoadedConfig> config = LoadConfig(g);
  if (!config.ok()) return Fail(config.status());
  Result<S3Options> o = S3OptionsFrom(config->config.aws, CurrentEnvironment());
  if (!o.ok()) return Fail(o.status().Annotate("porch s3"));
  RealClock clock;
  CurlHttpClient http;
  S3Client s3(&http, &clock, *o);
  std::string bucket, prefix;
  auto need_url = [&](const std::string& url) -> Status {
    if (ParseS3Url(url, &bucket, &prefix)) return Status::Ok();
    return Status::InvalidArgument("'" + url + "' is not an s3://bucket/prefix address");
  };
  if (action == "mb") {
    if (args.size() != 1) return Fail(Status::InvalidArgument("usage: porch s3 mb s3://BUCKET"));
    if (Status st = need_url(args[0]); !st.ok()) return Fail(st);
    if (Status st = s3.CreateBucket(bucket); !st.ok()) return Fail(st);
    std::printf("made bucket %s\n", bucket.c_str());
    return kExitOk;
  }
  if (action == "ls") {
    if (args.size() != 1) return Fail(Status::InvalidArgument("usage: porch s3 ls s3://BUCKET/PREFIX"));
    if (Status st = need_url(args[0]); !st.ok()) return Fail(st);
    Result<std::vector<ObjectInfo>> listed = s3.List(bucket, prefix);
    if (!listed.ok()) return Fail(listed.status());
    json out = json::array();
    for (const ObjectInfo& info : *listed) {
      if (g.json) {
        out.push_back({{"key", info.key}, {"size", info.size}, {"etag", info.etag}});
      } else {
        std::printf("%12llu  %s\n", static_cast<unsigned long long>(info.size), info.key.c_str());
      }
    }
    if (g.json) std::cout << out.dump(2) << "\n";
    return kExitOk;
  }
  if (action == "sync") {
    if (args.size() != 2) return Fail(Status::InvalidArgument("usage: porch s3 sync SRC DST"));
    bool up = ParseS3Url(args[1], &bucket, &prefix);
    bool down = !up && ParseS3Url(args[0], &bucket, &prefix);
    if (up == down) {
      return Fail(Status::InvalidArgument(
          "porch s3 sync: exactly one side must be s3://bucket/prefix, the other a directory"));
    }
    SyncOptions so;
    so.delete_extra = delete_extra;
    so.exclude = exclude;
    if (!unchanged_from.empty()) {
      std::string ref_bucket;
      if (!up || !ParseS3Url(unchanged_from, &ref_bucket, &so.unchanged_from) || ref_bucket != bucket) {
        return Fail(Status::InvalidArgument(
            "--unchanged-from needs an s3:// prefix in the destination's bucket, with an upload"));
      }
    }
    Result<SyncStats> stats = up ? SyncUp(s3, args[0], bucket, prefix, so)
                                 : SyncDown(s3, bucket, prefix, args[1], so);
    if (!stats.ok()) return Fail(stats.status().Annotate("porch s3 sync"));
    if (g.json) {
      std::cout << json({{"copied", stats->copied}, {"unchanged", stats->unchanged},
                         {"deleted", stats->deleted}, {"bytes", stats->bytes}}).dump()
                << "\n";
    } else {
      std::printf("%d copied (%llu bytes), %d unchanged, %d deleted\n", stats->copied,
                  static_cast<unsigned long long>(stats->bytes), stats->unchanged, stats->deleted);
    }
    return kExitOk;
  }
  return Fail(Status::InvalidArgument("unknown s3 action '" + action + "' (sync, ls, mb)"));
}

}  // namespace porch
