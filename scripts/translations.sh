#!/usr/bin/env bash
# The gettext catalogs, with Babel's own commands (README, "Localisation"). Usage:
#   scripts/translations.sh extract        sources -> cds_service/translations/messages.pot
#   scripts/translations.sh update         messages.pot -> every <locale>/LC_MESSAGES/messages.po
#   scripts/translations.sh init LOCALE    a new catalog for LOCALE (e.g. ja, zh_Hant)
#   scripts/translations.sh compile        every messages.po -> messages.mo (pip install does it too)
#   scripts/translations.sh check          what is untranslated or fuzzy (the tests fail on it)
set -euo pipefail
cd "$(dirname "$0")/.."
pybabel=".venv/bin/pybabel"
[ -x "$pybabel" ] || pybabel="pybabel"
dir=cds_service/translations
pot="${POT:-$dir/messages.pot}"  # POT=file: extract elsewhere (the tests compare)
case "${1:-}" in
  extract)
    # N_(id, text) and NN_(id, singular, plural) mark message templates with an id (the context)
    "$pybabel" extract -F pyproject.toml -o "$pot" \
      -k "N_:1c,2" -k "NN_:1c,2,3" -k "lazy_gettext" -k "_l" \
      --add-comments=TRANSLATORS: --add-location=file --sort-by-file \
      --project=igg4-cds --copyright-holder="igg4-cds contributors" \
      cds_service ;;
  update)
    # the source language's catalog takes no guesses; the others get fuzzy suggestions to review
    for po in "$dir"/*/LC_MESSAGES/messages.po; do
      locale="$(basename "$(dirname "$(dirname "$po")")")"
      fuzzy=()
      [ "$locale" = en ] && fuzzy=(--no-fuzzy-matching)
      "$pybabel" update -i "$pot" -d "$dir" -l "$locale" --ignore-obsolete \
        --ignore-pot-creation-date "${fuzzy[@]}"
    done ;;
  init)
    "$pybabel" init -i "$pot" -d "$dir" -l "${2:?usage: translations.sh init LOCALE}" ;;
  compile)
    "$pybabel" compile -d "$dir" --statistics ;;
  check)
    .venv/bin/python -m pytest -q tests/i18n/test_catalogs.py ;;
  *)
    sed -n '2,7p' "$0"; exit 2 ;;
esac
