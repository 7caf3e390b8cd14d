#include "aws/credentials.h"

#include <cctype>
#include <ctime>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "platform/files.h"

namespace porch {

namespace {

std::string Trim(std::string s) {
  size_t a = s.find_first_not_of(" \t\r");
  size_t b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// Keys of section `section` in an INI file; empty when absent.
std::map<std::string, std::string> IniSection(const std::string& text, const std::string& section) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    line = Trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      inside = Trim(line.substr(1, line.size() - 2)) == section;
      continue;
    }
    size_t eq = line.find('=');
    if (inside && eq != std::string::npos) out[Trim(line.substr(0, eq))] = Trim(line.substr(eq + 1));
  }
  return out;
}

std::string Get(const std::map<std::string, std::string>& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? "" : it->second;
}

}  // namespace

Result<AwsCredentials> ResolveAwsCredentials(const std::map<std::string, std::string>& env,
                                             const std::string& home, HttpClient* imds) {
  AwsCredentials c;
  c.access_key_id = Get(env, "AWS_ACCESS_KEY_ID");
  c.secret_access_key = Get(env, "AWS_SECRET_ACCESS_KEY");
  if (!c.access_key_id.empty() && !c.secret_access_key.empty()) {
    c.session_token = Get(env, "AWS_SESSION_TOKEN");
    c.source = "environment (AWS_ACCESS_KEY_ID)";
    return c;
  }
  std::string profile = Get(env, "AWS_PROFILE");
  if (profile.empty()) profile = "default";
  std::string creds_file = Get(env, "AWS_SHARED_CREDENTIALS_FILE");
  if (creds_file.empty()) creds_file = home + "/.aws/credentials";
  std::string config_file = Get(env, "AWS_CONFIG_FILE");
  if (config_file.empty()) config_file = home + "/.aws/config";

  struct Place {
    std::string file, section;
  };
  for (const Place& p : {Place{creds_file, profile},
                         Place{config_file, profile == "default" ? "default" : "profile " + profile}}) {
    Result<std::string> text = ReadFile(p.file);
    if (!text.ok()) continue;
    auto keys = IniSection(*text, p.section);
    if (!Get(keys, "aws_access_key_id").empty() && !Get(keys, "aws_secret_access_key").empty()) {
      c.access_key_id = keys["aws_access_key_id"];
      c.secret_access_key = keys["aws_secret_access_key"];
      c.session_token = Get(keys, "aws_session_token");
      c.source = "profile '" + profile + "' in " + p.file;
      return c;
    }
  }
  std::string imds_said;
  if (imds != nullptr) {
    Result<AwsCredentials> role = InstanceMetadataCredentials(*imds, env);
    if (role.ok()) {
      // Later renewals ask the same service, each on a connection of its own
      // (the caller's client may be gone by then).
      role->renew = [env]() -> Result<AwsCredentials> {
        CurlHttpClient http;
        return InstanceMetadataCredentials(http, env);
      };
      return role;
    }
    imds_said = ", and the EC2 instance metadata service (" + role.status().message() + ")";
  }
  return Status::NotFound(
      "no AWS credentials found: looked at AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the "
      "environment, profile '" + profile + "' in '" + creds_file + "' and in '" + config_file + "'" +
      imds_said + " (set AWS_PROFILE to use another profile)");
}

Result<AwsCredentials> InstanceMetadataCredentials(HttpClient& http,
                                                   const std::map<std::string, std::string>& env) {
  std::string disabled = Get(env, "AWS_EC2_METADATA_DISABLED");
  for (char& c : disabled) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (disabled == "true") return Status::NotFound("turned off by AWS_EC2_METADATA_DISABLED");
  std::string endpoint = Get(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
  if (endpoint.empty()) endpoint = "http://169.254.169.254";
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  auto request = [&](const std::string& method, const std::string& path, HttpHeaders headers) {
    HttpRequest req;
    req.method = method;
    req.url = endpoint + path;
    req.headers = std::move(headers);
    req.connect_timeout_s = 1;
    req.timeout_s = 2;
    return http.Send(req);
  };
  Result<HttpResponse> token =
      request("PUT", "/latest/api/token", {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}});
  if (!token.ok()) return Status::NotFound("no answer from " + endpoint + ": not on EC2?");
  HttpHeaders with_token;
  if (token->status == 200) {
    with_token.emplace_back("X-aws-ec2-metadata-token", Trim(token->body));
  } else if (token->status != 403 && token->status != 404 && token->status != 405) {
    return Status::NotFound("the token request to " + endpoint + " answered " + std::to_string(token->status));
  }  // else IMDSv1: no token
  const std::string base = "/latest/meta-data/iam/security-credentials/";
  Result<HttpResponse> roles = request("GET", base, with_token);
  if (!roles.ok()) return Status::NotFound("no answer from " + endpoint);
  if (roles->status == 404) return Status::NotFound("the instance has no IAM role");
  if (roles->status != 200) {
    return Status::NotFound("the role list at " + endpoint + " answered " + std::to_string(roles->status));
  }
  std::string role = Trim(roles->body.substr(0, roles->body.find('\n')));
  if (role.empty() || role.find_first_of("/?#% ") != std::string::npos) {
    return Status::NotFound("the instance has no usable IAM role name");
  }
  Result<HttpResponse> keys = request("GET", base + role, with_token);
  if (!keys.ok()) return Status::NotFound("no answer from " + endpoint);
  if (keys->status != 200) {
    return Status::NotFound("the credentials of role '" + role + "' answered " + std::to_string(keys->status));
  }
  nlohmann::json j = nlohmann::json::parse(keys->body, nullptr, false);
  auto field = [&](const char* name) {
    return j.is_object() && j.contains(name) && j[name].is_string() ? j[name].get<std::string>() : "";
  };
  if (field("Code") != "Success" || field("AccessKeyId").empty() || field("SecretAccessKey").empty()) {
    return Status::NotFound("the credentials of role '" + role + "' are not usable (Code '" + field("Code") + "')");
  }
  AwsCredentials c;
  c.access_key_id = field("AccessKeyId");
  c.secret_access_key = field("SecretAccessKey");
  c.session_token = field("Token");
  c.expiration = field("Expiration");
  c.from_instance_metadata = true;
  c.source = "EC2 instance metadata (role '" + role + "')";
  return c;
}

void RenewIfExpiring(AwsCredentials* creds, double now_unix) {
  if (!creds->renew || creds->expiration.empty()) return;
  std::tm tm{};
  std::istringstream in(creds->expiration);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) return;  // not a time we can read: keep the keys
  const double ends = static_cast<double>(timegm(&tm));
  if (ends - now_unix > 300) return;
  if (creds->renew_failed_at > 0 && now_unix - creds->renew_failed_at < 30) return;  // not on every request
  Result<AwsCredentials> fresh = creds->renew();
  if (!fresh.ok()) {
    creds->renew_failed_at = now_unix;
    return;
  }
  auto renew = std::move(creds->renew);
  *creds = std::move(*fresh);
  if (!creds->renew) creds->renew = std::move(renew);
}

}  // namespace porch
