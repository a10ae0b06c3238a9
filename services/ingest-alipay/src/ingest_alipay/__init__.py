"""ingest-alipay: the Alipay life account (生活号 / 服务窗) platform logic, in and out."""
