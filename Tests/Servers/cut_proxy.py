"""A TCP proxy the tests can cut: every connection to it is relayed to 127.0.0.1:<target>, and
SIGUSR1 closes all the connections open at that moment (it keeps accepting new ones), as a
network blip or a restarted load balancer would.

  cut_proxy.py --ready-file F --target-file T
The target port is read from T for each new connection (so the proxy can start before what it
fronts, whose address may need the proxy's); the proxy's port is written to F once listening.
Each cut appends a line to F + ".cuts".
"""
import argparse, asyncio, os, signal


async def main(args):
    open_pairs = set()

    async def pipe(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def handle(client_reader, client_writer):
        with open(args.target_file) as f:
            target = int(f.read().strip())
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            client_writer.close()
            return
        pair = (client_writer, server_writer)
        open_pairs.add(pair)
        try:
            await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))
        finally:
            open_pairs.discard(pair)

    def cut():
        for pair in list(open_pairs):
            for writer in pair:
                transport = writer.transport
                if transport is not None:
                    transport.abort()
        with open(args.ready_file + ".cuts", "a") as f:
            f.write(f"cut {len(open_pairs)}\n")

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, cut)
    port = server.sockets[0].getsockname()[1]
    with open(args.ready_file + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(args.ready_file + ".tmp", args.ready_file)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--target-file", required=True)
    asyncio.run(main(parser.parse_args()))
