#include "backend/slurm/job_script.h"

#include "core/strings.h"

#include <cctype>
#include <cstdio>

namespace porch {

namespace {
constexpr size_t kMaxTaskInJobName = 100;
}  // namespace

std::string ShellQuote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

namespace {

// #SBATCH lines are split by sbatch itself, which honours double quotes.
std::string HeaderValue(std::string_view s) {
  bool plain = !s.empty();
  for (char c : s) plain &= !std::isspace(static_cast<unsigned char>(c)) && c != '"' && c != '\'';
  if (plain) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string FormatSeconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

void Line(std::string* out, const std::string& option) { *out += "#SBATCH " + option + "\n"; }

}  // namespace

std::string SlurmJobName(std::string_view uid, std::string_view task_id, int attempt) {
  return "porch-" + std::string(uid) + "-" + SafeName(std::string(task_id), kMaxTaskInJobName) +
         "-" + std::to_string(attempt);
}

std::string SlurmJobComment(std::string_view uid) { return "porch-run-" + std::string(uid); }

std::vector<std::string> SplitSbatchArgs(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  bool have = false;
  char quote = 0;
  for (char c : text) {
    if (quote) {
      if (c == quote) quote = 0;
      else cur += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      have = true;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      if (have) out.push_back(cur);
      cur.clear();
      have = false;
    } else {
      cur += c;
      have = true;
    }
  }
  if (have) out.push_back(cur);
  return out;
}

namespace {

// The #SBATCH header.
std::string Header(const JobScriptSpec& spec, bool array) {
  std::string s;
  Line(&s, "--job-name=" + HeaderValue(spec.job_name));
  if (!spec.partition.empty()) Line(&s, "--partition=" + HeaderValue(spec.partition));
  if (spec.time_limit_s > 0) Line(&s, "--time=" + FormatSlurmTime(spec.time_limit_s));
  if (spec.memory_bytes > 0) Line(&s, "--mem=" + FormatMemory(spec.memory_bytes));
  Line(&s, "--cpus-per-task=" + std::to_string(spec.cpus > 0 ? spec.cpus : 1));
  if (spec.gpus > 0) Line(&s, "--gres=gpu:" + std::to_string(spec.gpus));
  if (array) {
    std::string range = "0-" + std::to_string(spec.elements.size() - 1);
    if (spec.array_throttle > 0) range += "%" + std::to_string(spec.array_throttle);
    Line(&s, "--array=" + range);
  }
  if (!spec.output.empty()) Line(&s, "--output=" + HeaderValue(spec.output));
  if (!spec.error.empty()) Line(&s, "--error=" + HeaderValue(spec.error));
  if (!spec.after_ok.empty()) {
    std::string dep = "afterok";
    for (const std::string& id : spec.after_ok) dep += ":" + id;
    Line(&s, "--dependency=" + dep);
    Line(&s, std::string("--kill-on-invalid-dep=") + (spec.kill_on_invalid_dep ? "yes" : "no"));
  }
  if (!spec.export_env.empty()) Line(&s, "--export=" + HeaderValue(spec.export_env));
  if (!spec.comment.empty()) Line(&s, "--comment=" + HeaderValue(spec.comment));
  // A job that loses its node is not run again under the same attempt: porch
  // reruns it as a new attempt (NODE_FAIL is a lost attempt, no retry charged).
  Line(&s, "--no-requeue");
  for (const std::string& a : spec.extra_args) Line(&s, HeaderValue(a));
  return s;
}

// Sets $task, $attempt and $limit: from SLURM_ARRAY_TASK_ID in an array.
std::string SelectElement(const JobScriptSpec& spec, bool array) {
  std::string s;
  if (array) {
    s += "case \"${SLURM_ARRAY_TASK_ID:-}\" in\n";
    for (size_t k = 0; k < spec.elements.size(); ++k) {
      const JobElement& e = spec.elements[k];
      s += "  " + std::to_string(k) + ") task=" + ShellQuote(e.task_id) +
           " attempt=" + std::to_string(e.attempt) + " limit=" + FormatSeconds(e.time_limit_s) +
           " ;;\n";
    }
    s += "  *) echo \"porch: array element '${SLURM_ARRAY_TASK_ID:-}' is not in this script\" >&2; "
         "exit 91 ;;\n"
         "esac\n";
  } else if (!spec.elements.empty()) {
    const JobElement& e = spec.elements.front();
    s += "task=" + ShellQuote(e.task_id) + " attempt=" + std::to_string(e.attempt) +
         " limit=" + FormatSeconds(e.time_limit_s) + "\n";
  }
  return s;
}

// The body for a node without the run directory: fetch the inputs from
// S3, run, send the attempt's files and (last) its result back.
std::string StagedBody(const JobScriptSpec& spec) {
  std::string s3_args;
  for (const std::string& a : spec.s3_args) s3_args += " " + ShellQuote(a);
  std::string s = "porch_s3() { " + ShellQuote(spec.porch_path) + " s3 \"$@\"" + s3_args +
                  " >/dev/null; }\n";
  s += "stage=" + ShellQuote(spec.stage_url) + "\n";
  s += "top=\"${PORCH_NODE_DIR:-${TMPDIR:-/tmp}}/porch-\"" + ShellQuote(spec.run_id) + "\n";
  s += "node=\"$top/$task-$attempt\"\n";
  s += "rel=\"tasks/$task/attempt-$attempt\"\n";
  s += "mkdir -p \"$node/$rel\" && cd \"$node\" || { echo \"porch: cannot make $node on "
       "$(hostname)\" >&2; exit 90; }\n";
  s += "exec >>\"$node/$rel/slurm.out\" 2>>\"$node/$rel/slurm.err\"\n";
  s += "porch_s3 sync \"$stage/input\" \"$node\" || { echo \"porch: cannot fetch the run's "
       "inputs from $stage/input\" >&2; exit 92; }\n";
  s += ShellQuote(spec.porch_path) + " exec-task --run-dir \"$node\" --task-id \"$task\" "
       "--attempt \"$attempt\" --time-limit \"$limit\" --grace " + FormatSeconds(spec.grace_s) +
       "\nrc=$?\n";
  s += "# Back to S3, also when the task failed: what it changed in output/, its\n"
       "# attempt's files, and last its result, which tells porch it is over (and\n"
       "# only when everything else arrived: a result without its files is worse\n"
       "# than none, which porch retries).\n";
  s += "sent=1\n";
  s += "porch_s3 sync \"$node/output\" \"$stage/$rel/output\" --unchanged-from "
       "\"$stage/input/output\" --exclude .git || sent=\n";
  s += "mkdir -p \"$node/.result\" && if [ -f \"$node/$rel/result.json\" ]; then "
       "mv \"$node/$rel/result.json\" \"$node/.result/attempt-$attempt.json\" || sent=; fi\n";
  // The attempt's own files; of an AI task's workspace only what the agent
  // changed (the rest is the snapshot it was given), and neither its seeded
  // base/, nor any .git, nor the CLI's HOME.
  s += "porch_s3 sync \"$node/$rel\" \"$stage/$rel\" --exclude workspace --exclude base --exclude .git "
       "--exclude .agent-home || sent=\n";
  s += "if [ -d \"$node/$rel/workspace\" ]; then porch_s3 sync \"$node/$rel/workspace\" "
       "\"$stage/$rel/workspace\" --unchanged-from \"$stage/input/output\" --exclude .git || sent=; fi\n";
  s += "if [ -n \"$sent\" ]; then porch_s3 sync \"$node/.result\" \"$stage/results/$task\" || sent=; fi\n";
  s += "[ -n \"$sent\" ] || { echo \"porch: could not send attempt $attempt of $task to $stage on "
       "$(hostname); its files are kept in $node\" >&2; rc=93; }\n";
  // Nothing stays on the node: the attempt's directory, the run's (when it
  // is empty) and SLURM's own output file for this job go.
  std::string own_output;
  if (size_t j = spec.output.find("%j"); j != std::string::npos) {
    own_output = " " + ShellQuote(spec.output.substr(0, j)) + "\"${SLURM_JOB_ID:-}\"" +
                 ShellQuote(spec.output.substr(j + 2));
  }
  s += "[ -n \"${PORCH_KEEP_NODE_DIR:-}\" ] || [ -z \"$sent\" ] || { rm -rf \"$node\"; rmdir \"$top\" 2>/dev/null; }\n";
  if (!own_output.empty()) s += "rm -f" + own_output + "\n";
  s += "exit $rc\n";
  return s;
}

}  // namespace

std::string GenerateJobScript(const JobScriptSpec& spec) {
  const bool array = spec.elements.size() > 1;
  std::string s = "#!/bin/bash\n" + Header(spec, array);
  s += "# Written by porch: ";
  s += array ? std::to_string(spec.elements.size()) + " attempts as a job array"
             : std::string("one task attempt");
  s += ". Credentials are not in this file: they come\n"
       "# from the environment exported at submission. See docs/slurm.md.\n"
       "set -u\n";
  for (const auto& [name, value] : spec.exports) s += "export " + name + "=" + ShellQuote(value) + "\n";
  const std::string run = ShellQuote(spec.run_dir);
  const bool staged = !spec.stage_url.empty();
  if (!staged) {
    s += "cd " + run + " || { echo \"porch: cannot enter the run directory \"" + run +
         "\" on $(hostname)\" >&2; exit 90; }\n";
  }
  s += SelectElement(spec, array);
  if (staged) return s + StagedBody(spec);
  if (array) {
    // SLURM's own output for the array goes to one file per element; from
    // here on the job writes into its attempt's directory, like a plain job.
    s += "dir=" + ShellQuote(spec.run_dir + "/tasks/") + "\"$task/attempt-$attempt\"\n";
    s += "mkdir -p \"$dir\" && exec >>\"$dir/slurm.out\" 2>>\"$dir/slurm.err\"\n";
  }
  s += "exec " + ShellQuote(spec.porch_path) + " exec-task --run-dir " + run +
       " --task-id \"$task\" --attempt \"$attempt\" --time-limit \"$limit\" --grace " +
       FormatSeconds(spec.grace_s) + "\n";
  return s;
}

}  // namespace porch
