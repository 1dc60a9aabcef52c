// Lockstep harness for the Verilog that rust-hdl generates (module `top`), built by
// riskpipe-hdl's lockstep.rs with `verilator --cc --exe --build`.
//
// Usage: lockstep INPUT_TRACE OUTPUT_TRACE
//
// Reads the input trace (a `name:width` header line, then one line of hex values per cycle) and,
// for every cycle: applies the inputs with the clock low and evaluates; writes the outputs; raises
// the clock and evaluates; lowers it and evaluates. Power-on state comes from the `initial` blocks.
//
// The port-specific code (INPUT_COUNT, OUTPUT_HEADER, set_inputs, get_outputs) is generated per
// design into lockstep_ports.h, next to this file.
#include "Vtop.h"
#include "verilated.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

// Hex text to 32-bit words, least significant first. False unless the text is hex and the value
// has at most `width` bits (leading zeros are fine).
static bool parse_hex(const std::string& text, int width, uint32_t* words, int nwords) {
    for (int i = 0; i < nwords; ++i) words[i] = 0;
    if (text.empty()) return false;
    int bit = 0;
    for (size_t k = text.size(); k-- > 0; bit += 4) {
        const char c = text[k];
        uint32_t d;
        if (c >= '0' && c <= '9') {
            d = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            d = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            d = c - 'A' + 10;
        } else {
            return false;
        }
        if (d == 0) continue;
        const int top_bit = bit + (d >= 8 ? 3 : d >= 4 ? 2 : d >= 2 ? 1 : 0);
        if (top_bit >= width) return false;
        // A digit never straddles two words: 32 is a multiple of 4.
        words[bit / 32] |= d << (bit % 32);
    }
    return true;
}

// A narrow (at most 64-bit) input port from hex.
template <typename T>
static bool parse_narrow(const std::string& text, int width, T& port) {
    uint32_t w[2];
    if (!parse_hex(text, width, w, 2)) return false;
    port = static_cast<T>((uint64_t(w[1]) << 32) | w[0]);
    return true;
}

// Appends words (least significant first) as lowercase hex without leading zeros.
static void put_hex(std::string& out, const uint32_t* words, int nwords) {
    int i = nwords - 1;
    while (i > 0 && words[i] == 0) --i;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%x", words[i]);
    out += buf;
    while (i-- > 0) {
        std::snprintf(buf, sizeof buf, "%08x", words[i]);
        out += buf;
    }
}

// Appends a narrow (at most 64-bit) output port as hex.
static void put_narrow(std::string& out, uint64_t value) {
    const uint32_t w[2] = {uint32_t(value), uint32_t(value >> 32)};
    put_hex(out, w, 2);
}

[[noreturn]] static void bad(long cycle, const char* port) {
    std::fprintf(stderr, "lockstep: cycle %ld, signal %s: bad value\n", cycle, port);
    std::exit(3);
}

#include "lockstep_ports.h"

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s INPUT_TRACE OUTPUT_TRACE\n", argv[0]);
        return 2;
    }
    std::ifstream in(argv[1]);
    std::FILE* out = std::fopen(argv[2], "w");
    if (!in || !out) {
        std::fprintf(stderr, "lockstep: cannot open %s or %s\n", argv[1], argv[2]);
        return 2;
    }
    VerilatedContext context;
    Vtop top{&context};
    std::string line;
    std::string row;
    std::getline(in, line);  // the input header: the Rust side has checked it
    std::fputs(OUTPUT_HEADER, out);
    std::fputc('\n', out);
    std::vector<std::string> tok;
    top.clock = 0;
    long cycle = 0;
    while (std::getline(in, line)) {
        tok.clear();
        std::istringstream fields(line);
        for (std::string t; fields >> t;) tok.push_back(t);
        if (tok.empty()) continue;
        if (tok.size() != INPUT_COUNT) bad(cycle, "(row length)");
        set_inputs(top, tok, cycle);
        top.eval();
        row.clear();
        get_outputs(top, row);
        row += '\n';
        std::fputs(row.c_str(), out);
        top.clock = 1;
        top.eval();
        top.clock = 0;
        top.eval();
        ++cycle;
    }
    top.final();
    return std::fclose(out) == 0 ? 0 : 4;
}
