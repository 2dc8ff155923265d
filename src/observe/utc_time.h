// Timestamps as the gateway writes them in every log: UTC, milliseconds, "Z".
#pragma once

#include <chrono>
#include <string>

namespace portcullis::observe {

// "2024-05-01T12:00:00.123Z".
std::string format_utc(std::chrono::system_clock::time_point t);

}  // namespace portcullis::observe
