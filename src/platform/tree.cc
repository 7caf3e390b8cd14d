#include "platform/tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "core/digest.h"
#include "platform/files.h"

namespace porch {

namespace {

Status Walk(const std::string& root, const std::string& rel,
            std::map<std::string, FileDigest>* out) {
  std::string dir = rel.empty() ? root : root + "/" + rel;
  Result<std::vector<std::string>> names = ListDir(dir);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    if (rel.empty() && (name == ".git" || name == ".porch")) continue;
    std::string child_rel = rel.empty() ? name : rel + "/" + name;
    std::string path = root + "/" + child_rel;
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      PORCH_RETURN_IF_ERROR(Walk(root, child_rel, out));
    } else if (S_ISREG(st.st_mode)) {
      Result<std::string> data = ReadFile(path);
      if (!data.ok()) return data.status();
      (*out)[child_rel] = {child_rel, Sha256Hex(*data), static_cast<uint64_t>(data->size())};
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::map<std::string, FileDigest>> DigestTree(const std::string& dir) {
  std::map<std::string, FileDigest> out;
  if (!IsDirectory(dir)) return out;
  PORCH_RETURN_IF_ERROR(Walk(dir, "", &out));
  return out;
}

Status CopyFile(const std::string& from, const std::string& to) {
  Result<std::string> data = ReadFile(from);
  if (!data.ok()) return data.status();
  PORCH_RETURN_IF_ERROR(MakeDirs(DirName(to)));
  PORCH_RETURN_IF_ERROR(WriteFileFast(to, *data));
  struct stat st;
  if (stat(from.c_str(), &st) == 0) chmod(to.c_str(), st.st_mode & 07777);
  return Status::Ok();
}

Result<std::map<std::string, FileDigest>> SeedWorkspace(const std::string& from,
                                                       const std::string& to) {
  PORCH_RETURN_IF_ERROR(MakeDirs(to));
  Result<std::map<std::string, FileDigest>> files = DigestTree(from);
  if (!files.ok()) return files.status();
  for (const auto& [rel, d] : *files) {
    PORCH_RETURN_IF_ERROR(CopyFile(from + "/" + rel, to + "/" + rel));
  }
  return files;
}

std::vector<FileDigest> ChangedFiles(const std::map<std::string, FileDigest>& seed,
                                     const std::map<std::string, FileDigest>& now) {
  std::vector<FileDigest> out;
  for (const auto& [rel, d] : now) {
    auto it = seed.find(rel);
    if (it == seed.end() || it->second.sha256 != d.sha256) out.push_back(d);
  }
  return out;
}

Result<std::string> ResolveInWorkspace(const std::string& workspace, const std::string& rel) {
  if (rel.empty()) return Status::InvalidArgument("the path is empty");
  if (rel.front() == '/') {
    return Status::InvalidArgument("'" + rel + "' is absolute; use a path relative to the project");
  }
  size_t start = 0;
  while (start <= rel.size()) {
    size_t slash = rel.find('/', start);
    if (rel.substr(start, slash == std::string::npos ? std::string::npos : slash - start) == "..") {
      return Status::InvalidArgument("'" + rel + "' leaves the workspace ('..' is not allowed)");
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  char root_buf[PATH_MAX];
  if (!realpath(workspace.c_str(), root_buf)) return Status::FromErrno("workspace '" + workspace + "'", errno);
  std::string root = root_buf;
  // The deepest existing ancestor (or the file itself) must resolve inside.
  std::string probe = root + "/" + rel;
  struct stat link;
  char check[PATH_MAX];
  if (lstat(probe.c_str(), &link) == 0 && S_ISLNK(link.st_mode) && !realpath(probe.c_str(), check)) {
    return Status::InvalidArgument("'" + rel + "' is a symlink that leads outside the workspace");
  }
  while (true) {
    char buf[PATH_MAX];
    if (realpath(probe.c_str(), buf)) {
      std::string real = buf;
      if (real != root && real.rfind(root + "/", 0) != 0) {
        return Status::InvalidArgument("'" + rel + "' leads outside the workspace (through a symlink)");
      }
      break;
    }
    if (probe == root) break;
    probe = DirName(probe);
  }
  return root + "/" + rel;
}

}  // namespace porch
