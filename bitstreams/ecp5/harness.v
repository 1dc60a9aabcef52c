// Board-level wrapper of the margin engine for the ECP5 build (bitstreams/ecp5/build.sh).
//
// The engine's ports are far wider than any package: a 256-bit command, a 512-bit flag and an
// AXI4-Lite slave, some 870 signals, where the LFE5UM5G-85F in its CABGA381 package has 205
// user I/O. This wrapper reaches every port through a few pins instead, so that nothing is
// left unconnected or constant (which synthesis would optimise away, giving a design smaller
// and faster than the real one) and every port still does what it does on a card:
//
// - an input chain shifted in one bit per clock holds a command record (bits 0..256), an
//   AXI4-Lite address (256..268) and write data (268..300);
// - a rising edge on send_cmd, reg_write or reg_read offers that command beat, register write
//   or register read to the engine, held until the engine takes it (the AXI handshake);
// - take_flag is the flag stream's TREADY; every flag beat taken, and every register response,
//   is loaded into an output chain that shifts out through flag_sdo and reg_sdo.
//
// The pins are sampled through two registers (they are asynchronous to the clock) and every
// output is registered, so the pads add no paths to the engine's clock domain. A card connects
// the engine's ports to its PCIe shell instead (docs/hardware.md, "FPGA builds"); this wrapper
// only makes a placed-and-routed ECP5 image of the real engine possible without such a shell.
`default_nettype none

module riskpipe_ecp5 (
    input  wire clk,        // the engine clock
    input  wire sdi,        // serial data into the input chain
    input  wire shift_in,   // high: shift sdi into the input chain, one bit per clock
    input  wire send_cmd,   // rising edge: offer the chain's command record on s_cmd
    input  wire reg_write,  // rising edge: write the chain's data to the chain's address
    input  wire reg_read,   // rising edge: read the chain's address
    input  wire take_flag,  // the flag stream's TREADY
    input  wire shift_out,  // high: shift both output chains one bit per clock
    output reg  flag_sdo,   // serial data out of the flag chain (the last flag taken)
    output reg  reg_sdo,    // serial data out of the register chain (last rdata, rresp, bresp)
    output reg  cmd_ready,  // s_cmd_tready
    output reg  flag_valid, // m_flag_tvalid
    output reg  busy        // a command beat or register access is still waiting
);
    localparam IN_BITS = 300;
    localparam FLAG_BITS = 512;
    localparam REG_BITS = 36;

    // Two-register synchronisers for the pins.
    reg [6:0] pins_meta = 7'd0;
    reg [6:0] pins = 7'd0;
    reg [6:0] pins_last = 7'd0;
    always @(posedge clk) begin
        pins_meta <= {sdi, shift_in, send_cmd, reg_write, reg_read, take_flag, shift_out};
        pins <= pins_meta;
        pins_last <= pins;
    end
    wire pin_sdi = pins[6];
    wire pin_shift_in = pins[5];
    wire pin_shift_out = pins[0];
    wire pin_take_flag = pins[1];
    wire rise_send = pins[4] & ~pins_last[4];
    wire rise_write = pins[3] & ~pins_last[3];
    wire rise_read = pins[2] & ~pins_last[2];

    reg [IN_BITS-1:0] in_chain = {IN_BITS{1'b0}};
    always @(posedge clk)
        if (pin_shift_in) in_chain <= {pin_sdi, in_chain[IN_BITS-1:1]};

    // Handshakes: each valid rises on its pin's edge and falls once the engine takes the beat.
    reg cmd_valid = 1'b0, aw_valid = 1'b0, w_valid = 1'b0, ar_valid = 1'b0;
    wire cmd_tready, awready, wready, arready, bvalid, rvalid, tvalid;
    wire [1:0] bresp, rresp;
    wire [31:0] rdata;
    wire [FLAG_BITS-1:0] tdata;
    always @(posedge clk) begin
        cmd_valid <= rise_send | (cmd_valid & ~cmd_tready);
        aw_valid <= rise_write | (aw_valid & ~awready);
        w_valid <= rise_write | (w_valid & ~wready);
        ar_valid <= rise_read | (ar_valid & ~arready);
    end

    top engine (
        .clock(clk),
        .s_axil_awaddr(in_chain[267:256]),
        .s_axil_awvalid(aw_valid),
        .s_axil_awready(awready),
        .s_axil_wdata(in_chain[299:268]),
        .s_axil_wvalid(w_valid),
        .s_axil_wready(wready),
        .s_axil_bresp(bresp),
        .s_axil_bvalid(bvalid),
        .s_axil_bready(1'b1),
        .s_axil_araddr(in_chain[267:256]),
        .s_axil_arvalid(ar_valid),
        .s_axil_arready(arready),
        .s_axil_rdata(rdata),
        .s_axil_rresp(rresp),
        .s_axil_rvalid(rvalid),
        .s_axil_rready(1'b1),
        .s_cmd_tdata(in_chain[255:0]),
        .s_cmd_tvalid(cmd_valid),
        .s_cmd_tready(cmd_tready),
        .m_flag_tdata(tdata),
        .m_flag_tvalid(tvalid),
        .m_flag_tready(pin_take_flag)
    );

    // Output chains: a taken flag beat or a register response is loaded whole, then shifted.
    reg [FLAG_BITS-1:0] flag_chain = {FLAG_BITS{1'b0}};
    reg [REG_BITS-1:0] reg_chain = {REG_BITS{1'b0}};
    always @(posedge clk) begin
        if (tvalid & pin_take_flag) flag_chain <= tdata;
        else if (pin_shift_out) flag_chain <= {1'b0, flag_chain[FLAG_BITS-1:1]};
        if (rvalid) reg_chain <= {2'b00, rresp, rdata};
        else if (bvalid) reg_chain <= {bresp, reg_chain[33:0]};
        else if (pin_shift_out) reg_chain <= {1'b0, reg_chain[REG_BITS-1:1]};
        flag_sdo <= flag_chain[0];
        reg_sdo <= reg_chain[0];
        cmd_ready <= cmd_tready;
        flag_valid <= tvalid;
        busy <= cmd_valid | aw_valid | w_valid | ar_valid;
    end
endmodule

`default_nettype wire
