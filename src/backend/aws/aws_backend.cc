#include "backend/aws/aws_backend.h"

#include <map>
#include <nlohmann/json.hpp>

#include "platform/tree.h"
#include "aws/credentials.h"
#include "platform/files.h"
#include "platform/http.h"
#include "s3/s3_client.h"
#include "s3/sync.h"

namespace porch {

S3Stager::S3Stager(ObjectStore* store, std::string bucket, std::string base, RunLayout layout,
                   std::vector<std::string> s3_args)
    : store_(store),
      bucket_(std::move(bucket)),
      base_(std::move(base)),
      layout_(AbsolutePath(layout.dir())),
      s3_args_(std::move(s3_args)) {}

Status S3Stager::Start(const std::string& run_marker_json) {
  PORCH_RETURN_IF_ERROR(store_->PutData(bucket_, base_ + "/run.json", run_marker_json));
  PORCH_RETURN_IF_ERROR(store_->PutFile(bucket_, base_ + "/input/plan.json", layout_.plan()));
  if (PathExists(layout_.config())) {
    PORCH_RETURN_IF_ERROR(store_->PutFile(bucket_, base_ + "/input/config.json", layout_.config()));
  }
  return Status::Ok();
}

Status S3Stager::Publish(const std::vector<std::pair<std::string, int>>& launching) {
  for (const auto& [task, attempt] : launching) {
    if (attempt < 2) continue;
    const std::string rel = "tasks/" + task + "/attempt-" + std::to_string(attempt - 1);
    for (const char* name : {"/result.json", "/conflicts.txt"}) {
      if (!PathExists(layout_.dir() + "/" + rel + name)) continue;
      PORCH_RETURN_IF_ERROR(
          store_->PutFile(bucket_, base_ + "/input/" + rel + name, layout_.dir() + "/" + rel + name));
    }
  }
  // Only what changed since the last submission goes up.
  // Never the output's git repository (its objects, and hooks that would run
  // wherever it is checked out).
  SyncOptions options;
  options.exclude = {".git"};
  Result<SyncStats> up = SyncUp(*store_, layout_.output(), bucket_, base_ + "/input/output", options);
  return up.status();
}

void S3Stager::Fetch(const std::vector<std::pair<std::string, int>>& active) {
  if (active.empty()) return;
  Result<std::vector<ObjectInfo>> results = store_->List(bucket_, base_ + "/results/");
  if (!results.ok()) return;  // S3 unreachable for now: next poll
  std::map<std::string, std::string> by_attempt;  // "<task>/attempt-<n>.json" -> key
  const std::string head = base_ + "/results/";
  for (const ObjectInfo& o : *results) by_attempt[o.key.substr(head.size())] = o.key;
  for (const auto& [task, attempt] : active) {
    if (PathExists(layout_.result_path(task, attempt))) continue;
    auto it = by_attempt.find(task + "/attempt-" + std::to_string(attempt) + ".json");
    if (it == by_attempt.end()) continue;
    std::string dir = layout_.attempt_dir(task, attempt);
    std::string rel = "tasks/" + task + "/attempt-" + std::to_string(attempt);
    if (!SyncDown(*store_, bucket_, base_ + "/" + rel, dir, {}).ok()) continue;
    // What the task changed in output/, as the local backend leaves it.
    if (PathExists(dir + "/output") && !SeedWorkspace(dir + "/output", layout_.output()).ok()) {
      continue;
    }
    // A failed download is tried again at the next poll (no result file yet).
    store_->GetFile(bucket_, it->second, layout_.result_path(task, attempt)).IgnoreError();
  }
}

Status S3Stager::Close() {
  SyncOptions options;
  options.exclude = {".git"};  // the repository stays with the run directory
  Result<SyncStats> up = SyncUp(*store_, layout_.output(), bucket_, base_ + "/output", options);
  return up.status().Annotate("aws backend: the final upload of output/ to " + StageUrl() +
                              "/output");
}

namespace {

struct AwsParts {
  std::unique_ptr<CommandRunner> runner;
  std::unique_ptr<SlurmClient> client;
  std::unique_ptr<HttpClient> http;
  std::unique_ptr<S3Client> s3;
  std::unique_ptr<S3Stager> stager;
};

class AwsBackend : private AwsParts, public SlurmBackend {
 public:
  AwsBackend(AwsParts parts, RunLayout layout, Clock* clock, SlurmBackendOptions o)
      : AwsParts(std::move(parts)),
        SlurmBackend(client.get(), layout, clock, std::move(o), stager.get()) {}
};

}  // namespace

Result<std::unique_ptr<Backend>> CreateAwsBackend(const Config& config, const RunLayout& layout,
                                                  const RunIdentity& identity, Clock* clock,
                                                  const std::map<std::string, std::string>& env) {
  const AwsConfig& aws = config.aws;
  if (aws.s3_bucket.empty()) {
    return Status::InvalidArgument(
        "aws backend: no bucket: set aws.s3_bucket (or PORCH_AWS_S3_BUCKET) to the S3 bucket "
        "the cluster's nodes can read and write");
  }
  CurlHttpClient imds;
  Result<AwsCredentials> creds =
      ResolveAwsCredentials(env, env.count("HOME") ? env.at("HOME") : "", &imds);
  if (!creds.ok()) return creds.status().Annotate("aws backend");
  std::string region = aws.region;
  if (auto it = env.find("AWS_REGION"); it != env.end() && !it->second.empty()) region = it->second;

  AwsParts parts;
  parts.http = std::make_unique<CurlHttpClient>();
  S3Options so;
  so.region = region;
  so.endpoint = aws.endpoint;
  so.credentials = *creds;
  parts.s3 = std::make_unique<S3Client>(parts.http.get(), clock, so);
  const std::string& run_id = identity.run_id;
  std::string prefix = aws.s3_prefix;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  while (!prefix.empty() && prefix.front() == '/') prefix.erase(0, 1);
  // Two runs with the same run id (two output directories, two users)
  // share a bucket without meeting: the uid is part of the path.
  std::string base = (prefix.empty() ? "" : prefix + "/") + "runs/" + run_id + "." + identity.uid;
  // Access check: a clear error now rather than failed jobs later.
  Result<std::vector<ObjectInfo>> probe = parts.s3->List(aws.s3_bucket, base + "/run.json");
  if (!probe.ok()) return probe.status().Annotate("aws backend: checking bucket access");

  std::vector<std::string> s3_args = {"--set", "aws.region=" + region};
  if (!aws.endpoint.empty()) s3_args.insert(s3_args.end(), {"--set", "aws.endpoint=" + aws.endpoint});
  parts.stager = std::make_unique<S3Stager>(parts.s3.get(), aws.s3_bucket, base, layout, s3_args);
  const nlohmann::json marker = {{"run_id", run_id},
                                 {"uid", identity.uid},
                                 {"cluster_name", aws.cluster_name},
                                 {"region", region},
                                 {"started_at", clock->Now()}};
  PORCH_RETURN_IF_ERROR(
      parts.stager->Start(marker.dump() + "\n").Annotate("aws backend: writing the run marker"));

  // The SLURM side: everything the slurm backend checks, on the cluster's
  // head node.
  Result<SlurmSetup> slurm = ConnectSlurm(config, identity, clock, env);
  if (!slurm.ok()) return slurm.status().Annotate("aws backend");
  slurm->options.name = "aws";
  parts.runner = std::move(slurm->runner);
  parts.client = std::move(slurm->client);
  return std::unique_ptr<Backend>(
      new AwsBackend(std::move(parts), layout, clock, std::move(slurm->options)));
}

}  // namespace porch
