//! `riskpipe-sim` owns the simulated card: a register file, a model of the PCIe shell that
//! turns BAR writes into command beats and flag beats into DMA writes, a PCIe latency model,
//! and engines that run the hardware cycle by cycle. It implements the driver's backend trait so
//! every line of the driver above it runs without a board. It arrives with the card issue;
//! until then this crate is empty.
