//! The C ABI of mtproto (see `include/mtproto.h`).
