#include "platform/tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "core/digest.h"
#include "platform/files.h"

namespace porch {

namespace {

// A file porch itself is writing (WriteFileBeneath's ".<name>.porch-<pid>",
// renamed over <name> in a moment): never part of a tree's contents.
bool IsPorchTemp(const std::string& name) {
  const size_t mark = name.rfind(".porch-");
  if (name.empty() || name[0] != '.' || mark == std::string::npos || mark == 0) return false;
  const std::string pid = name.substr(mark + 7);
  return !pid.empty() && pid.find_first_not_of("0123456789") == std::string::npos;
}

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
    if (IsPorchTemp(name) || lstat(path.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      PORCH_RETURN_IF_ERROR(Walk(root, child_rel, out));
    } else if (S_ISREG(st.st_mode)) {
      Result<std::string> data = ReadFile(path);
      // Gone since it was listed (a merge into output/ replaced it): the
      // tree as it is now does not have it.
      if (!data.ok() && !PathExists(path)) continue;
      if (!data.ok()) return data.status();
      (*out)[child_rel] = {child_rel, Sha256Hex(*data), static_cast<uint64_t>(data->size())};
    }
  }
  return Status::Ok();
}

// The components of a relative path; InvalidArgument for an absolute one,
// an empty one, or "." / ".." anywhere.
Result<std::vector<std::string>> Components(const std::string& rel) {
  if (rel.empty() || rel.front() == '/') {
    return Status::InvalidArgument("'" + rel + "' is not a relative path");
  }
  std::vector<std::string> parts;
  for (size_t start = 0; start <= rel.size();) {
    size_t slash = rel.find('/', start);
    if (slash == std::string::npos) slash = rel.size();
    std::string part = rel.substr(start, slash - start);
    if (part.empty() || part == "." || part == ".." || part.find('\0') != std::string::npos) {
      return Status::InvalidArgument("'" + rel + "' has an empty, '.' or '..' component");
    }
    parts.push_back(std::move(part));
    start = slash + 1;
  }
  return parts;
}

// Opens the directory holding the last component, one component at a time,
// never through a link; creates missing ones when `create`. The caller
// closes the descriptor.
Result<int> OpenParentBeneath(const std::string& root, const std::vector<std::string>& parts,
                              const std::string& rel, bool create) {
  int dir = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return Status::FromErrno("cannot open '" + root + "'", errno);
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    int next = openat(dir, parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0 && errno == ENOENT && create) {
      if (mkdirat(dir, parts[i].c_str(), 0755) != 0 && errno != EEXIST) {
        const int err = errno;
        close(dir);
        return Status::FromErrno("cannot create a directory for '" + rel + "' in '" + root + "'", err);
      }
      next = openat(dir, parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    const int err = errno;
    close(dir);
    if (next < 0) {
      if (err == ENOENT) return Status::NotFound("'" + rel + "' does not exist in '" + root + "'");
      if (err == ELOOP || err == ENOTDIR) {
        return Status::InvalidArgument("'" + rel + "' in '" + root + "': '" + parts[i] +
                                       "' is a symbolic link or not a directory; porch does not "
                                       "follow links in a merge");
      }
      return Status::FromErrno("cannot open '" + rel + "' in '" + root + "'", err);
    }
    dir = next;
  }
  return dir;
}

}  // namespace

Result<FileBeneath> ReadFileBeneath(const std::string& root, const std::string& rel) {
  Result<std::vector<std::string>> parts = Components(rel);
  if (!parts.ok()) return parts.status();
  Result<int> dir = OpenParentBeneath(root, *parts, rel, /*create=*/false);
  if (!dir.ok()) return dir.status();
  int fd = openat(*dir, parts->back().c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  const int err = errno;
  close(*dir);
  if (fd < 0) {
    if (err == ENOENT) return Status::NotFound("'" + rel + "' does not exist in '" + root + "'");
    if (err == ELOOP) {
      return Status::InvalidArgument("'" + rel + "' in '" + root +
                                     "' is a symbolic link; porch does not follow links in a merge");
    }
    return Status::FromErrno("cannot open '" + rel + "' in '" + root + "'", err);
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return Status::InvalidArgument("'" + rel + "' in '" + root + "' is not a regular file");
  }
  FileBeneath out;
  out.mode = st.st_mode & 07777;
  out.data.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < out.data.size()) {
    ssize_t n = read(fd, out.data.data() + got, out.data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  out.data.resize(got);
  return out;
}

Status RemoveFileBeneath(const std::string& root, const std::string& rel) {
  Result<std::vector<std::string>> parts = Components(rel);
  if (!parts.ok()) return parts.status();
  Result<int> dir = OpenParentBeneath(root, *parts, rel, /*create=*/false);
  if (!dir.ok()) return dir.status().code() == Status::Code::kNotFound ? Status::Ok() : dir.status();
  const std::string& name = parts->back();
  struct stat st;
  Status out;
  if (fstatat(*dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno != ENOENT) out = Status::FromErrno("'" + rel + "' in '" + root + "'", errno);
  } else if (!S_ISREG(st.st_mode)) {
    out = Status::InvalidArgument("'" + rel + "' in '" + root + "' is not a regular file; porch does not remove it");
  } else if (unlinkat(*dir, name.c_str(), 0) != 0) {
    out = Status::FromErrno("cannot remove '" + rel + "' in '" + root + "'", errno);
  }
  close(*dir);
  return out;
}

bool ExistsBeneath(const std::string& root, const std::string& rel) {
  Result<std::vector<std::string>> parts = Components(rel);
  if (!parts.ok()) return false;
  Result<int> dir = OpenParentBeneath(root, *parts, rel, /*create=*/false);
  if (!dir.ok()) return false;
  struct stat st;
  const bool there = fstatat(*dir, parts->back().c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
  close(*dir);
  return there;
}

Status WriteFileBeneath(const std::string& root, const std::string& rel, const std::string& data,
                        unsigned mode) {
  Result<std::vector<std::string>> parts = Components(rel);
  if (!parts.ok()) return parts.status();
  Result<int> dir = OpenParentBeneath(root, *parts, rel, /*create=*/true);
  if (!dir.ok()) return dir.status();
  const std::string& name = parts->back();
  struct stat st {};
  if (fstatat(*dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
    close(*dir);
    return Status::InvalidArgument("'" + rel + "' in '" + root + "' is " +
                                   (S_ISLNK(st.st_mode) ? "a symbolic link" : "not a regular file") +
                                   "; porch does not write through it");
  }
  const std::string tmp = "." + name + ".porch-" + std::to_string(getpid());
  int fd = openat(*dir, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode & 07777);
  if (fd < 0) {
    const int err = errno;
    close(*dir);
    return Status::FromErrno("cannot write '" + rel + "' in '" + root + "'", err);
  }
  Status written = WriteAll(fd, data, root + "/" + rel);
  if (written.ok() && fchmod(fd, mode & 07777) != 0) written = Status::FromErrno("chmod '" + rel + "'", errno);
  close(fd);
  if (written.ok() && renameat(*dir, tmp.c_str(), *dir, name.c_str()) != 0) {
    written = Status::FromErrno("cannot replace '" + rel + "' in '" + root + "'", errno);
  }
  if (!written.ok()) unlinkat(*dir, tmp.c_str(), 0);
  close(*dir);
  return written;
}

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
  for (auto it = files->begin(); it != files->end();) {
    Status copied = CopyFile(from + "/" + it->first, to + "/" + it->first);
    if (!copied.ok() && !PathExists(from + "/" + it->first)) {
      it = files->erase(it);  // removed while the seed was taken: not part of it
      continue;
    }
    PORCH_RETURN_IF_ERROR(copied);
    ++it;
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
  // The OS would cut the path at a NUL byte and write somewhere else than
  // the caller was told; control characters make names no one can type.
  for (unsigned char c : rel) {
    if (c < 0x20 || c == 0x7f) {
      return Status::InvalidArgument("the path contains a control character (byte " +
                                     std::to_string(c) + "); use a plain file name");
    }
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
