use concurrency_lab::tokio::{self, io::{AsyncBufReadExt, AsyncWriteExt, BufReader}, net::{TcpListener, TcpStream}};

/// One client: each line back with "echo: " before it; "quit" gets "bye" and the end.
async fn handle(stream: TcpStream) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines(); // whole lines, however the bytes arrive
    while let Some(line) = lines.next_line().await? { // None: the client closed its side
        if line == "quit" {
            writer.write_all(b"bye\n").await?;
            break;
        }
        writer.write_all(format!("echo: {line}\n").as_bytes()).await?;
    }
    Ok(()) // both halves are dropped here: the connection closes
}

async fn serve(listener: TcpListener) {
    loop {
        if let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handle(stream)); // a task per client: nobody waits for anybody
        }
    }
}
