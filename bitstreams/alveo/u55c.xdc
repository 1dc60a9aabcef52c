# Constraints of the card build (riskpipe_u55c.tcl, mode `card`) on an Alveo U55C.
# NOT RUN HERE: Vivado is not available on the machine this project is built on.
#
# Clocks.
# - The PCIe reference clock, 100 MHz from the edge connector. The XDMA IP's own constraints
#   derive its user clock from it: axi_aclk = 250 MHz (4.000 ns) at Gen3 x16 with a 512-bit
#   AXI interface. The engine and the shell run on axi_aclk, so the engine's 250 MHz
#   constraint is that generated clock. It must not be declared a second time here
#   (a create_clock on the IP's output pin would override the derived clock and hide a wrong
#   IP setting); riskpipe_u55c.tcl instead checks after synthesis that the clock reaching the
#   engine's `clock` pin has a period of 4.000 ns and stops if it does not.
create_clock -name pcie_refclk -period 10.000 [get_ports pcie_refclk_p]

# PERST# from the edge connector is asynchronous to everything.
set_false_path -from [get_ports pcie_perst_n]

# Pins. The PCIe lanes, the reference clock pair and PERST# (their locations and I/O standards)
# come from the board file: riskpipe_u55c.tcl sets the board part xilinx.com:au55c:part0 and
# the XDMA IP's board interfaces, so no PACKAGE_PIN or IOSTANDARD is written here. Check the
# port names above against the ones the IP's example design uses for that board if Vivado
# reports that a constraint matched no port.

set_property BITSTREAM.GENERAL.COMPRESS TRUE [current_design]
