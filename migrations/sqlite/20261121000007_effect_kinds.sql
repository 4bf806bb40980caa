-- Each engine effect's kind in a column of its own, so the workers that consume effects find
-- their pending ones through an index instead of scanning effect texts.
ALTER TABLE engine_effects ADD COLUMN kind TEXT;
UPDATE engine_effects SET kind = substr(effect, 12, instr(substr(effect, 12), '"') - 1)
    WHERE effect LIKE '{"effect":"%';
CREATE INDEX engine_effects_kind ON engine_effects (state, kind, id);
