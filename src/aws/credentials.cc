#include "aws/credentials.h"

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
                                             const std::string& home) {
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
  return Status::NotFound(
      "no AWS credentials found: looked at AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the "
      "environment, profile '" + profile + "' in '" + creds_file + "' and in '" + config_file +
      "' (set AWS_PROFILE to use another profile)");
}

}  // namespace porch
