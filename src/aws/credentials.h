// The standard AWS credential chain, reading only what it is given: the
// environment as a map and the home directory (no globals, so tests pass
// their own).
//
// Order: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN);
// then the profile AWS_PROFILE (default "default") in the shared credentials
// file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials), then in the
// config file (AWS_CONFIG_FILE or ~/.aws/config, section "[profile NAME]"
// or "[default]"); then, when given an HttpClient, the EC2 instance
// metadata service (below). NotFound when none has keys, naming every place
// looked at.
#pragma once

#include <map>
#include <string>

#include "aws/sigv4.h"
#include "core/status.h"
#include "platform/http.h"

namespace porch {

// `imds`: the client for the instance metadata service, or nullptr to leave
// it out (callers that must not wait on a network, and tests of the files).
Result<AwsCredentials> ResolveAwsCredentials(const std::map<std::string, std::string>& env,
                                             const std::string& home, HttpClient* imds = nullptr);

// The role credentials of an EC2 instance from its metadata service, as the
// AWS SDKs get them: IMDSv2 (PUT /latest/api/token, then the token on every
// GET), falling back to IMDSv1 when the token is refused with 403/404/405;
// the role from /latest/meta-data/iam/security-credentials/ and its keys
// from .../ROLE (JSON with Code "Success", AccessKeyId, SecretAccessKey,
// Token, Expiration). The endpoint is AWS_EC2_METADATA_SERVICE_ENDPOINT or
// http://169.254.169.254; AWS_EC2_METADATA_DISABLED=true turns it off. Each
// request connects within 1 s and ends within 2 s, so a machine that is not
// on EC2 loses about a second. NotFound with the reason when there are no
// credentials (not on EC2, no role, disabled). The keys expire (see
// `expiration`): a process that outlives them asks again.
Result<AwsCredentials> InstanceMetadataCredentials(HttpClient& http,
                                                   const std::map<std::string, std::string>& env);

// Renews `creds` through its `renew` when its `expiration` is less than 5
// minutes after `now_unix` (instance-metadata keys are offered anew at least
// 5 minutes before the old ones end, and may be handed out that close to
// it). On a failed renewal the old keys stay (the service then answers 403,
// which names where they came from) and renewal is tried again 30 s later,
// not on every request. Call before signing; from one thread
// (each client keeps its own copy).
void RenewIfExpiring(AwsCredentials* creds, double now_unix);

}  // namespace porch
