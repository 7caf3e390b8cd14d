// The standard AWS credential chain, reading only what it is given: the
// environment as a map and the home directory (no globals, so tests pass
// their own).
//
// Order: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN);
// then the profile AWS_PROFILE (default "default") in the shared credentials
// file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials), then in the
// config file (AWS_CONFIG_FILE or ~/.aws/config, section "[profile NAME]"
// or "[default]"). NotFound when none has keys, naming every place looked at.
#pragma once

#include <map>
#include <string>

#include "aws/sigv4.h"
#include "core/status.h"

namespace porch {

Result<AwsCredentials> ResolveAwsCredentials(const std::map<std::string, std::string>& env,
                                             const std::string& home);

}  // namespace porch
