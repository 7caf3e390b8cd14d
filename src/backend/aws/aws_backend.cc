#include "backend/aws/aws_backend.h"

#include <map>
#include <set>
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
  std::set<std::string> done;  // "<task>/attempt-<n>.json"
  const std::string head = base_ + "/results/";
  for (const ObjectInfo& o : *results) done.insert(o.key.substr(head.size()));
  for (const auto& [task, attempt] : active) {
    if (PathExists(layout_.result_path(task, attempt))) continue;
    if (done.count(task + "/attempt-" + std::to_string(attempt) + ".json") == 0) continue;
    // A failed download is tried again at the next poll (no result file yet).
    FetchAttempt(task, attempt).IgnoreError();
  }
}

Status S3Stager::FetchAttempt(const std::string& task, int attempt) {
  const std::string rel = "tasks/" + task + "/attempt-" + std::to_string(attempt);
  const std::string dir = layout_.attempt_dir(task, attempt);
  Result<SyncStats> down = SyncDown(*store_, bucket_, base_ + "/" + rel, dir, {});
  if (!down.ok()) return down.status().Annotate("fetching " + rel);
  // What the task changed in output/, as the local backend leaves it.
  if (PathExists(dir + "/output")) {
    Result<std::map<std::string, FileDigest>> seeded = SeedWorkspace(dir + "/output", layout_.output());
    if (!seeded.ok()) return seeded.status().Annotate("bringing " + rel + "/output into the run's output");
  }
  return store_->GetFile(bucket_, base_ + "/results/" + task + "/attempt-" + std::to_string(attempt) + ".json",
                         layout_.result_path(task, attempt));
}

Status S3Stager::Close() {
  SyncOptions options;
  options.exclude = {".git"};  // the repository stays with the run directory
  Result<SyncStats> up = SyncUp(*store_, layout_.output(), bucket_, base_ + "/output", options);
  return up.status().Annotate("S3 staging: the final upload of output/ to " + StageUrl() +
                              "/output");
}

Result<S3Options> S3OptionsFrom(const AwsConfig& aws, const std::map<std::string, std::string>& env) {
  CurlHttpClient imds;
  Result<AwsCredentials> creds = ResolveAwsCredentials(env, env.count("HOME") ? env.at("HOME") : "", &imds);
  if (!creds.ok()) return creds.status();
  S3Options o;
  o.region = aws.region;
  if (auto it = env.find("AWS_REGION"); it != env.end() && !it->second.empty()) o.region = it->second;
  o.endpoint = aws.endpoint;
  o.credentials = *creds;
  return o;
}

Result<S3Staging> OpenS3Staging(const Config& config, const RunLayout& layout, const RunIdentity& identity,
                                Clock* clock, const std::map<std::string, std::string>& env,
                                const std::string& backend) {
  const AwsConfig& aws = config.aws;
  if (aws.s3_bucket.empty()) {
    return Status::InvalidArgument(
        backend + ": no bucket: set aws.s3_bucket (or PORCH_AWS_S3_BUCKET) to the S3 bucket "
        "the cluster's nodes can read and write");
  }
  Result<S3Options> so = S3OptionsFrom(aws, env);
  if (!so.ok()) return so.status().Annotate(backend);
  S3Staging parts;
  parts.region = so->region;
  parts.http = std::make_unique<CurlHttpClient>();
  parts.s3 = std::make_unique<S3Client>(parts.http.get(), clock, *so);
  std::string prefix = aws.s3_prefix;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  while (!prefix.empty() && prefix.front() == '/') prefix.erase(0, 1);
  // Two runs with the same run id (two output directories, two users)
  // share a bucket without meeting: the uid is part of the path.
  std::string base = (prefix.empty() ? "" : prefix + "/") + "runs/" + identity.run_id + "." + identity.uid;
  // Access check: a clear error now rather than failed jobs later.
  Result<std::vector<ObjectInfo>> probe = parts.s3->List(aws.s3_bucket, base + "/run.json");
  if (!probe.ok()) return probe.status().Annotate(backend + ": checking bucket access");

  std::vector<std::string> s3_args = {"--set", "aws.region=" + parts.region};
  if (!aws.endpoint.empty()) s3_args.insert(s3_args.end(), {"--set", "aws.endpoint=" + aws.endpoint});
  parts.stager = std::make_unique<S3Stager>(parts.s3.get(), aws.s3_bucket, base, layout, s3_args);
  const nlohmann::json marker = {{"run_id", identity.run_id},
                                 {"uid", identity.uid},
                                 {"backend", backend},
                                 {"cluster_name", aws.cluster_name},
                                 {"region", parts.region},
                                 {"started_at", clock->Now()}};
  PORCH_RETURN_IF_ERROR(
      parts.stager->Start(marker.dump() + "\n").Annotate(backend + ": writing the run marker"));
  return parts;
}

namespace {

struct AwsParts : S3Staging {
  std::unique_ptr<CommandRunner> runner;
  std::unique_ptr<SlurmClient> client;
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
  Result<S3Staging> staging = OpenS3Staging(config, layout, identity, clock, env, "aws backend");
  if (!staging.ok()) return staging.status();
  AwsParts parts;
  static_cast<S3Staging&>(parts) = std::move(*staging);
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
