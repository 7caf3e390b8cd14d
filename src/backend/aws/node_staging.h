// The node's side of a run staged through S3 (S3Stager is porch's side):
// fetch the run's inputs into a directory of the node's own, and after the
// attempt send back what it made, its result last. The aws backend's job
// scripts do this in shell (job_script.cc, StagedBody) with `porch s3
// sync`; `porch worker` does it here for the queue backend's
// queue.staging: s3. Both follow one layout (aws_backend.h):
//
//   <base>/input/...                        StageIn: into the node directory
//   <base>/tasks/<t>/attempt-<n>/output/    what the attempt changed in output/
//   <base>/tasks/<t>/attempt-<n>/...        its own files (stdout, logs, ...)
//   <base>/tasks/<t>/attempt-<n>/workspace/ of an AI task's workspace, what it changed
//   <base>/results/<t>/attempt-<n>.json     the result, sent last
//
// Not sent: any .git (objects, hooks), an AI task's seeded base/, the CLI
// agent's HOME (.agent-home), and whatever is identical to what was
// fetched. Blocking; not thread-safe (the store is not). (The shell twin
// compares with the input snapshot as it is when the attempt ends, which
// may have moved on: a known weakness of the aws job scripts.)
#pragma once

#include <map>
#include <string>

#include "core/status.h"
#include "platform/tree.h"
#include "s3/object_store.h"

namespace porch {

struct StagedAttempt {
  std::string bucket;
  std::string base;   // "<prefix>/runs/<run-id>.<uid>", no slashes at either end
  std::string node;   // the node's own directory for this attempt (made by StageIn)
  std::string task;
  int attempt = 0;
  std::string rel() const { return "tasks/" + task + "/attempt-" + std::to_string(attempt); }
};

// Fetches <base>/input into `node` (plan.json, config.json, output/, and
// for a retry why the previous attempt failed). Returns the digests of the
// output/ it fetched: what the attempt started from.
Result<std::map<std::string, FileDigest>> StageIn(ObjectStore& store, const StagedAttempt& a);

// Sends back what the attempt made; its result (if it wrote one) last, so
// that porch, which looks for the result, finds everything else there.
// "Changed" is against `seed`, what StageIn fetched (not the input
// snapshot as it is now: porch publishes other tasks' changes meanwhile,
// and an old copy of their files must not go back as this attempt's).
// NotFound when the attempt wrote no result (everything else was sent).
Status StageOut(ObjectStore& store, const StagedAttempt& a, const std::map<std::string, FileDigest>& seed);

}  // namespace porch
