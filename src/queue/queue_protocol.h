// What porch and `porch worker` say to each other through Redis: the names
// of the keys and streams, and the messages (pure; no I/O).
//
// Layout, under a prefix (queue.prefix, default "porch"):
//   <p>:q:<class>                one stream of attempts per resource class,
//                                shared by every run (workers need not know
//                                the runs); consumer group "porch-workers".
//                                A class is "default", or the labels a task
//                                needs joined by '+', sorted ("gpu").
//   <p>:run:<uid>:results        one stream per run: the workers' results.
//   <p>:run:<uid>:cancel:<t>:<n> set by porch: attempt n of task t is cancelled.
//   <p>:run:<uid>:claim:<t>:<n>  set (NX) by the worker that runs the attempt:
//                                a second copy of the message (a resent
//                                XADD) is dropped, never run.
//   <p>:run:<uid>:gone           set: the run's entries porch reclaimed or cancelled.
//   <p>:worker:<name>            a worker's heartbeat (JSON, expires).
//   <p>:workers                  sorted set of worker names by last beat.
//   <p>:dead                     messages no worker could read (dead letters).
// Everything a run creates carries its uid; porch removes only those.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "queue/redis_client.h"

namespace porch {

inline constexpr char kQueueGroup[] = "porch-workers";
inline constexpr char kQueueReaper[] = "porch-reaper";

struct QueueNames {
  std::string prefix = "porch";
  std::string ClassStream(const std::string& cls) const { return prefix + ":q:" + cls; }
  std::string Results(const std::string& uid) const { return prefix + ":run:" + uid + ":results"; }
  std::string CancelKey(const std::string& uid, const std::string& task, int attempt) const {
    return prefix + ":run:" + uid + ":cancel:" + task + ":" + std::to_string(attempt);
  }
  std::string ClaimKey(const std::string& uid, const std::string& task, int attempt) const {
    return prefix + ":run:" + uid + ":claim:" + task + ":" + std::to_string(attempt);
  }
  // The run's entries porch reclaimed or cancelled (so its scripts answer
  // the same when run twice).
  std::string Gone(const std::string& uid) const { return prefix + ":run:" + uid + ":gone"; }
  std::string WorkerKey(const std::string& name) const { return prefix + ":worker:" + name; }
  std::string Workers() const { return prefix + ":workers"; }
  std::string DeadLetters() const { return prefix + ":dead"; }
};

// The class of stream an attempt goes to: "gpu" for a task that needs GPUs,
// else "default".
std::string QueueClass(int gpus);

// The classes a worker with `labels` serves: "default" and every non-empty
// combination of its labels (sorted, joined by '+'). InvalidArgument for a
// bad label (empty, or with characters outside [a-z0-9_-]) or more than 6.
Result<std::vector<std::string>> WorkerClasses(const std::vector<std::string>& labels);

// A stream entry's fields (field, value, ...) by name; the first of a
// repeated field wins, as in FieldOf. Not an array: none.
std::map<std::string, std::string> Fields(const RedisReply& fields);
// One field's value, "" when absent.
std::string FieldOf(const RedisReply& fields, const std::string& name);

// One attempt, as porch pushes it.
struct AttemptMessage {
  std::string run_uid;
  std::string run_dir;       // absolute, as the workers see it (shared filesystem); empty when staged
  std::string stage;         // queue.staging s3: s3://bucket/<prefix>/runs/<id>.<uid> (node_staging.h)
  std::string task_id;
  int attempt = 0;
  double time_limit_s = 0;   // 0: none
  double grace_s = 5;
  int gpus = 0;
  std::string results;       // the stream the result goes to
  std::string prefix;        // the key prefix (for the cancel and claim keys)
  double visibility_s = 0;   // porch's queue.visibility_timeout (0: not given)
};
std::vector<std::string> EncodeAttempt(const AttemptMessage& m);  // field, value, field, value...
// The run directory an attempt runs in on a worker: porch's own (shared
// filesystem), or when staged the worker's node directory for this attempt,
// <work_dir>/porch-<uid>/<task>-<attempt>, as the aws job scripts make it.
std::string WorkerRunDir(const AttemptMessage& m, const std::string& work_dir);
// From a stream entry's fields. InvalidArgument saying what is missing or
// malformed (the worker dead-letters such a message).
Result<AttemptMessage> DecodeAttempt(const RedisReply& fields);

// One result, as a worker publishes it after exec-task wrote the result file.
struct ResultMessage {
  std::string task_id;
  int attempt = 0;
  int exit_code = 0;         // exec-task's exit status (or 128 + signal)
  std::string worker;
  std::string entry;         // the attempt's entry id in its class stream
  double started_at = 0;     // the worker's wall clock
  double ended_at = 0;
  // Why there is no result file, when the worker knows (-2: cancelled
  // before it started; -3: the worker could not start it).
  std::string detail;
  // The worker stopped the attempt itself because it lost contact with
  // Redis for a third of the visibility timeout (it would be reclaimed soon),
  // or asked to hand its attempts back (a second SIGTERM):
  // not the task's failure.
  bool lost = false;
};
std::vector<std::string> EncodeResult(const ResultMessage& m);
Result<ResultMessage> DecodeResult(const RedisReply& fields);

// A stream entry: id and its fields (an XREAD/XRANGE reply element).
struct StreamEntry {
  std::string id;
  RedisReply fields;  // array: field, value, ...
};
// The entries of one stream in an XREAD/XREADGROUP reply, by stream name.
// Malformed parts are skipped.
std::map<std::string, std::vector<StreamEntry>> StreamEntries(const RedisReply& reply);

}  // namespace porch
