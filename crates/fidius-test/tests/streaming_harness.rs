//! The stream composition harness (feature `streaming`).
#![cfg(feature = "streaming")]

use fidius_core::Value;
use fidius_test::{collect, pump, stream_of, CollectSink};

#[test]
fn collect_and_pump() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let values = vec![Value::U64(1), Value::String("two".into())];
        assert_eq!(collect(stream_of(values.clone())).await.unwrap(), values);
        let sink = CollectSink::new();
        pump(stream_of(values.clone()), &sink).await.unwrap();
        assert_eq!(sink.take(), values);
        assert!(sink.take().is_empty());
    });
}
