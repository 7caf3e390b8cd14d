// Who a run is, beyond its human run id: a unique id (uid) made when the run
// is created and stored in its directory (run.json). Everything porch names
// on a shared daemon (SLURM job names and comments, Docker container names
// and labels) carries the uid, so two runs with the same run id (in two
// output directories, or of two users) never match each other's jobs or
// containers, and porch never cancels or removes what another run made.
#pragma once

#include <string>

#include "core/status.h"
#include "model/run_layout.h"

namespace porch {

struct RunIdentity {
  std::string run_id;   // the human id: the run directory's name
  std::string uid;      // 16 lower-case hex digits, random
  double created_at = 0;
};

// A new identity for the run in `layout` (a fresh random uid).
RunIdentity NewRunIdentity(const RunLayout& layout, double now);

// Writes run.json durably (temp, fsync, rename).
Status WriteRunIdentity(const RunLayout& layout, const RunIdentity& identity);

// Reads run.json. NotFound when the run has none (made by an older porch):
// the caller then makes one.
Result<RunIdentity> ReadRunIdentity(const RunLayout& layout);

// Reads run.json, or makes and writes one when it is missing.
Result<RunIdentity> EnsureRunIdentity(const RunLayout& layout, double now);

// `text` as a name for a daemon (a SLURM job name, a Docker container name):
// letters, digits, '-', '_' and '.' kept, anything else '_'; when anything
// was replaced, or the text was longer than `max_len`, a short hash of the
// original is appended, so different texts never map to one name.
std::string SafeName(const std::string& text, size_t max_len = 64);

}  // namespace porch
