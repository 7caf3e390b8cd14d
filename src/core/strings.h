// Small string helpers shared by the parsers and printers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace porch {

// Parses a duration: plain seconds ("90", "1.5"), with a unit ("30s", "5m",
// "2h", "1d"), or SLURM's "[D-]HH:MM:SS" / "MM:SS". Returns seconds.
std::optional<double> ParseDuration(std::string_view text);

// Parses a memory size: "512" (MiB), "512M", "4G", "1T", "100K" (binary
// units, case-insensitive, optional trailing "B" or "iB"). Returns bytes.
std::optional<uint64_t> ParseMemory(std::string_view text);

// 3725 -> "1h02m05s"; 2.5 -> "2.5s".
std::string FormatDuration(double seconds);

// Seconds -> SLURM's "D-HH:MM:SS" (rounded up to whole minutes is the
// caller's concern).
std::string FormatSlurmTime(double seconds);

// Bytes -> "4G" / "512M" (exact when possible, else MiB rounded up).
std::string FormatMemory(uint64_t bytes);

// The offset of the first byte of `text` that is not part of well-formed
// UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF), or npos.
size_t FindInvalidUtf8(std::string_view text);

// Escapes for HTML text and attribute values.
std::string HtmlEscape(std::string_view text);

}  // namespace porch
