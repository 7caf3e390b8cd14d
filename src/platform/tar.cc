#include "platform/tar.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "platform/files.h"

namespace porch {

namespace {

void Octal(char* field, size_t size, unsigned long long value) {
  std::snprintf(field, size, "%0*llo", static_cast<int>(size - 1), value);
}

Status Header(std::string* out, const std::string& path, char type, mode_t mode, uint64_t size,
              const std::string& link) {
  char h[512];
  std::memset(h, 0, sizeof h);
  std::string name = path, prefix;
  if (name.size() > 100) {
    size_t cut = name.rfind('/', 155);
    if (cut == std::string::npos || name.size() - cut - 1 > 100 || cut == 0) {
      return Status::InvalidArgument("path too long for a tar archive: '" + path + "'");
    }
    prefix = name.substr(0, cut);
    name = name.substr(cut + 1);
  }
  if (link.size() > 100) return Status::InvalidArgument("link target too long: '" + path + "'");
  std::memcpy(h, name.data(), name.size());
  Octal(h + 100, 8, mode & 07777);
  Octal(h + 108, 8, 0);
  Octal(h + 116, 8, 0);
  Octal(h + 124, 12, size);
  Octal(h + 136, 12, 0);
  std::memset(h + 148, ' ', 8);
  h[156] = type;
  std::memcpy(h + 157, link.data(), link.size());
  std::memcpy(h + 257, "ustar", 6);
  std::memcpy(h + 263, "00", 2);
  std::memcpy(h + 345, prefix.data(), prefix.size());
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(h + 148, 8, "%06o", sum);
  h[155] = ' ';
  out->append(h, sizeof h);
  return Status::Ok();
}

Status Add(const std::string& root, const std::string& rel, std::string* out) {
  Result<std::vector<std::string>> names = ListDir(rel.empty() ? root : root + "/" + rel);
  if (!names.ok()) return names.status();
  for (const std::string& n : *names) {
    std::string path = rel.empty() ? n : rel + "/" + n;
    std::string full = root + "/" + path;
    struct stat st;
    if (lstat(full.c_str(), &st) != 0) return Status::FromErrno("cannot stat '" + full + "'", errno);
    if (S_ISDIR(st.st_mode)) {
      PORCH_RETURN_IF_ERROR(Header(out, path + "/", '5', st.st_mode, 0, ""));
      PORCH_RETURN_IF_ERROR(Add(root, path, out));
    } else if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t len = readlink(full.c_str(), target, sizeof target);
      if (len < 0) return Status::FromErrno("cannot read link '" + full + "'", errno);
      PORCH_RETURN_IF_ERROR(
          Header(out, path, '2', st.st_mode, 0, std::string(target, static_cast<size_t>(len))));
    } else if (S_ISREG(st.st_mode)) {
      Result<std::string> data = ReadFile(full);
      if (!data.ok()) return data.status();
      PORCH_RETURN_IF_ERROR(Header(out, path, '0', st.st_mode, data->size(), ""));
      out->append(*data);
      out->append((512 - data->size() % 512) % 512, '\0');
    } else {
      return Status::InvalidArgument("cannot put '" + full +
                                     "' in a tar archive: not a file, directory or link");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> TarDirectory(const std::string& dir) {
  std::string out;
  PORCH_RETURN_IF_ERROR(Add(dir, "", &out));
  out.append(1024, '\0');
  return out;
}

}  // namespace porch
