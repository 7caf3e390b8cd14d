#include "platform/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace porch {

Result<std::string> ReadFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("cannot open '" + path + "'", errno);
  std::string out;
  char buf[1 << 16];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return Status::FromErrno("cannot read '" + path + "'", err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("cannot write '" + path + "'", errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status WriteFileAtomic(const std::string& path, const std::string& data, bool sync_dir) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("cannot create '" + tmp + "'", errno);
  Status st = WriteAll(fd, data, tmp);
  if (st.ok() && fsync(fd) != 0) st = Status::FromErrno("cannot fsync '" + tmp + "'", errno);
  if (close(fd) != 0 && st.ok()) st = Status::FromErrno("cannot close '" + tmp + "'", errno);
  if (st.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    st = Status::FromErrno("cannot rename '" + tmp + "' to '" + path + "'", errno);
  }
  if (!st.ok()) {
    unlink(tmp.c_str());
    return st;
  }
  return sync_dir ? SyncDir(DirName(path)) : Status::Ok();
}

Status WriteFileFast(const std::string& path, const std::string& data) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("cannot create '" + path + "'", errno);
  Status st = WriteAll(fd, data, path);
  close(fd);
  return st;
}

Status MakeDirs(const std::string& path) {
  if (path.empty()) return Status::Ok();
  if (mkdir(path.c_str(), 0755) == 0) return Status::Ok();
  if (errno == EEXIST) {
    if (IsDirectory(path)) return Status::Ok();
    return Status::IoError("'" + path + "' exists and is not a directory");
  }
  if (errno != ENOENT) return Status::FromErrno("cannot create directory '" + path + "'", errno);
  // A parent is missing: create it first, then try again.
  std::string parent = DirName(path);
  if (parent == path || parent == "." || parent == "/") {
    return Status::FromErrno("cannot create directory '" + path + "'", ENOENT);
  }
  PORCH_RETURN_IF_ERROR(MakeDirs(parent));
  if (mkdir(path.c_str(), 0755) != 0 && !(errno == EEXIST && IsDirectory(path))) {
    return Status::FromErrno("cannot create directory '" + path + "'", errno);
  }
  return Status::Ok();
}

bool PathExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return Status::FromErrno("cannot list '" + dir + "'", errno);
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

Status SyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("cannot open directory '" + dir + "'", errno);
  Status st;
  if (fsync(fd) != 0 && errno != EINVAL) st = Status::FromErrno("cannot fsync '" + dir + "'", errno);
  close(fd);
  return st;
}

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string JoinPath(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  if (b.front() == '/') return b;
  if (a.back() == '/') return a + b;
  return a + "/" + b;
}

std::string AbsolutePath(const std::string& path) {
  if (!path.empty() && path.front() == '/') return path;
  char buf[PATH_MAX];
  if (!getcwd(buf, sizeof buf)) return path;
  std::string cwd = buf;
  if (path.empty() || path == ".") return cwd;
  std::string rel = path;
  while (rel.rfind("./", 0) == 0) rel = rel.substr(2);
  return JoinPath(cwd, rel);
}

}  // namespace porch
