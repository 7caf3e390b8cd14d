// The AWS ParallelCluster backend (the seed's AWSParallelClusterBackend):
// the SLURM backend, with the run's inputs, the attempts' files and their
// results staged through an S3 bucket, so compute nodes need no shared
// filesystem with the machine porch runs on. Nodes need only the porch
// binary (slurm.porch_path), which talks to S3 itself (`porch s3 sync`).
//
//   s3://<aws.s3_bucket>/<aws.s3_prefix>/runs/<run-id>/
//     run.json                    the run marker: id, cluster, region, start
//     input/plan.json, config.json, output/...   what nodes fetch
//     tasks/<task>/attempt-<n>/   stdout, stderr, slurm.out/.err, output/
//                                 (only the files the task changed)
//     results/<task>/attempt-<n>.json   the result, sent last by the node
//     output/                     the run's output at the end
//
// porch lists results/ once per poll; a new result brings the attempt's
// files into the run directory (result.json last, so the SLURM backend's
// rule holds: the result file is the authority). Resume after a crash
// works as on SLURM; results that arrived while porch was down are found
// in S3.
#pragma once

#include <memory>

#include "model/backend.h"
#include "backend/slurm/slurm_backend.h"
#include "config/config.h"
#include "platform/clock.h"
#include "platform/command_runner.h"
#include "model/run_layout.h"
#include "platform/http.h"
#include "s3/object_store.h"
#include "s3/s3_client.h"

namespace porch {

class S3Stager : public AttemptStager {
 public:
  // `store` is not owned. `base` is "<prefix>/runs/<run-id>" (no slashes at
  // either end). `s3_args` go to the nodes' `porch s3` calls.
  S3Stager(ObjectStore* store, std::string bucket, std::string base, RunLayout layout,
           std::vector<std::string> s3_args);

  Status Publish(const std::vector<std::pair<std::string, int>>& launching = {}) override;
  void Fetch(const std::vector<std::pair<std::string, int>>& active) override;
  // Brings one finished attempt home (its files, what it changed in
  // output/, its result last), without listing: the queue backend knows
  // from the worker's message that it is there. NotFound when its result
  // is not in S3 (the worker could not send it); other errors are worth
  // trying again.
  Status FetchAttempt(const std::string& task, int attempt);
  std::string StageUrl() const override { return "s3://" + bucket_ + "/" + base_; }
  std::vector<std::string> S3Args() const override { return s3_args_; }
  // The final upload of output/ (an error names where it was going).
  Status Close() override;

  // Writes the run marker and the plan and configuration (once).
  Status Start(const std::string& run_marker_json);

 private:
  ObjectStore* store_;
  std::string bucket_;
  std::string base_;
  RunLayout layout_;
  std::vector<std::string> s3_args_;
};

// The S3 client's settings from aws.* and the environment: credentials
// (env, the shared files under HOME, the instance's metadata service: a
// clear error naming what was looked at), AWS_REGION over aws.region, and
// aws.endpoint.
Result<S3Options> S3OptionsFrom(const AwsConfig& aws, const std::map<std::string, std::string>& env);

// What staging a run through S3 needs, made and checked once: the
// credentials (a clear error naming what is missing), the bucket (that it
// exists and porch may list it), and the run marker and inputs written.
// `backend` names the caller in errors ("aws backend", "queue backend").
// The stager borrows the client, which borrows the HTTP client: keep them
// together, in this order.
struct S3Staging {
  std::unique_ptr<HttpClient> http;
  std::unique_ptr<S3Client> s3;
  std::unique_ptr<S3Stager> stager;
  std::string region;
};
Result<S3Staging> OpenS3Staging(const Config& config, const RunLayout& layout, const RunIdentity& identity,
                                Clock* clock, const std::map<std::string, std::string>& env,
                                const std::string& backend);

// Checks the credentials and the bucket (clear errors naming both), writes
// the run marker and the inputs, and returns the staged SLURM backend.
// `env` is porch's environment (credentials, AWS_REGION, SLURM_CONF).
Result<std::unique_ptr<Backend>> CreateAwsBackend(const Config& config, const RunLayout& layout,
                                                  const RunIdentity& identity, Clock* clock,
                                                  const std::map<std::string, std::string>& env);

}  // namespace porch
