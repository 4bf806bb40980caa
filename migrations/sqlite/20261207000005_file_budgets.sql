-- The storage budgets of customers' files (`interact.upload_session_max_bytes`,
-- `interact.upload_tenant_max_bytes`) add up the sizes stored per tenant: covering indexes.
CREATE INDEX interact_files_tenant ON interact_files (tenant_id, size);
CREATE INDEX whatsapp_media_tenant ON whatsapp_media (tenant_id, size);
