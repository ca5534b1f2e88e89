def reversed_bytes(data):
    return bytes(data[::-1])
