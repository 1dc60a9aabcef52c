# Timing constraint for the margin engine alone (module `top` of bitstreams/riskpipe.v),
# synthesised out of context by riskpipe_u55c.tcl (mode `engine`). NOT RUN HERE: Vivado is not
# available on the machine this project is built on.
#
# The engine has one clock input, `clock`, and runs at 250 MHz on the card: the clock the
# simulated card assumes (sim Timing::clock_hz) and the XDMA's user clock (axi_aclk) at
# PCIe Gen3 x16 with a 512-bit AXI interface, which is the clock the engine shares with the
# shell on the card (README.md, "The card").
create_clock -name engine_clk -period 4.000 [get_ports clock]

# Out of context the ports go to no pad. Give every input and output a budget of half the
# period, as if the shell's registers sat on the other side with some routing in between, so
# that the paths from and to the ports are timed rather than left unconstrained.
set_input_delay -clock engine_clk 2.000 [get_ports -filter {DIRECTION == IN && NAME != clock}]
set_output_delay -clock engine_clk 2.000 [get_ports -filter {DIRECTION == OUT}]
