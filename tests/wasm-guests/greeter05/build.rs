fn main() {
    fidius_build::emit_wit();
}
