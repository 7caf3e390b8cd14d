// A ustar archive of a directory, in memory: what the Docker Engine API's
// /build endpoint takes as its build context. Regular files (mode kept),
// directories and symbolic links; paths relative to the directory, sorted,
// with fixed owner and time so the same tree gives the same bytes. Other file
// types (sockets, devices) are an error naming the path. Paths longer than
// ustar's 255 bytes are an error too.
#pragma once

#include <string>

#include "core/status.h"

namespace porch {

Result<std::string> TarDirectory(const std::string& dir);

}  // namespace porch
