// Job scripts for the SLURM backend (the seed's flow chart, made pure): a
// bash script with an #SBATCH header and a body that runs `porch exec-task`
// for one attempt, or for one element of a job array. Pure string building,
// tested against golden files.
//
// What goes in a script: job name, partition, limits, output paths,
// dependencies, pass-through sbatch arguments, the run directory and the
// task ids. What never does: credentials. They reach the job through the
// environment sbatch exports at submission (--export), or through a file
// readable only by the user, named by path in the environment.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/run_identity.h"

namespace porch {

// One attempt the script runs. An array script has one per element, in
// SLURM_ARRAY_TASK_ID order.
struct JobElement {
  std::string task_id;
  int attempt = 1;
  double time_limit_s = 0;  // exec-task's own limit; 0: none
};

struct JobScriptSpec {
  std::string job_name;
  std::string partition;            // empty: the cluster's default
  double time_limit_s = 0;          // SLURM's --time; 0: none
  uint64_t memory_bytes = 0;        // --mem; 0: the cluster's default
  int cpus = 1;                     // --cpus-per-task
  int gpus = 0;                     // --gres=gpu:N when > 0
  std::string output;               // --output (may hold %j / %a)
  std::string error;                // --error
  std::vector<std::string> after_ok;  // --dependency=afterok:<ids>
  bool kill_on_invalid_dep = true;
  std::string export_env = "ALL";   // --export
  std::vector<std::string> extra_args;  // passed as-is, one #SBATCH line each
  std::string comment;              // --comment
  int array_throttle = 0;           // %T on --array; 0: none
  // Body:
  std::string run_dir;              // absolute; the job changes there first
  std::string porch_path;           // absolute path of porch on the nodes
  // Variables the job exports before exec-task (settings for the node, such
  // as where the Claude Code CLI is there; never secrets).
  std::vector<std::pair<std::string, std::string>> exports;
  double grace_s = 5;               // exec-task's kill grace
  std::vector<JobElement> elements; // 1: a plain job; more: an array
  // Staging through S3 (the aws backend): when set, nodes share no
  // filesystem with porch. The job fetches the run's inputs from
  // <stage_url>/input into a node-local directory
  // (${PORCH_NODE_DIR:-${TMPDIR:-/tmp}}/porch-<run>/<task>-<attempt>), runs
  // exec-task there, and sends back the attempt's files, what the task
  // changed in output/, and last the result (<stage_url>/results/<task>/),
  // also when the task failed. `s3_args` go to every `porch s3` call
  // (region, endpoint: never secrets).
  std::string stage_url;
  std::string run_id;               // names the node-local directory (the run's uid)
  std::vector<std::string> s3_args;
};

std::string GenerateJobScript(const JobScriptSpec& spec);

// Single-quoted for bash: 'it'\''s'.
std::string ShellQuote(std::string_view s);

// A job name SLURM and shells take as is: "porch-<run>-<task>-<attempt>",
// characters outside [A-Za-z0-9._-] replaced by '_', at most 200 long.
// "porch-<uid>-<task>-<attempt>": unique to the run (its uid) and the
// attempt, and different for different task ids (SafeName).
std::string SlurmJobName(std::string_view uid, std::string_view task_id, int attempt);
// "porch-run-<uid>": the --comment every job of the run carries; porch lists
// its jobs by this, exactly.
std::string SlurmJobComment(std::string_view uid);

// Splits a config string of extra sbatch arguments on whitespace, keeping
// quoted parts ("--comment='a b'") together. Does not expand anything.
std::vector<std::string> SplitSbatchArgs(std::string_view text);

}  // namespace porch
