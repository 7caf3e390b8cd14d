// CRC-32 (IEEE 802.3, the zlib polynomial). Used to checksum journal records
// so that a torn or corrupted record is detected on replay.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace porch {

// Continues a CRC over `data`; start with crc = 0.
uint32_t Crc32(std::string_view data, uint32_t crc = 0);

}  // namespace porch
