// Fuzz target: journal replay (checksummed JSON lines) folded into a run's
// state, as resume, status and the dashboard do.
#include <cstddef>
#include <cstdint>
#include <string>

#include "journal/journal.h"
#include "journal/run_state.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  porch::Result<porch::ReplayResult> replay = porch::ReplayJournal(text, "fuzz");
  if (!replay.ok()) return 0;
  porch::RunState state;
  for (const porch::JournalRecord& rec : replay->records) {
    state.Apply(rec);
    (void)porch::EncodeRecord(rec);
  }
  return 0;
}
