"""PNC IDs and prison numbers: canonical forms and check letters."""

import numpy as np

from jdl_lib.identifiers import (
    is_valid_pnc,
    normalise_pnc,
    normalise_prison_number,
    pnc_check_letter,
    pnc_check_letters,
)


def test_check_letter_is_mod_23_of_two_digit_year_and_serial():
    # 98 followed by 0012345 = 980012345; 980012345 mod 23 = 9 -> "J"
    assert 980012345 % 23 == 9
    assert pnc_check_letter(1998, 12345) == "J"
    assert is_valid_pnc("1998/0012345J")
    assert not is_valid_pnc("1998/0012345K")


def test_short_forms_normalise_to_canonical():
    assert normalise_pnc(" 98/12345m ") == "1998/0012345M"
    assert normalise_pnc("05/1234567X") == "2005/1234567X"
    assert normalise_pnc("not a pnc") is None


def test_vectorised_letters_agree_with_scalar():
    years = np.array([1990, 2001, 2012])
    serials = np.array([1, 7654321, 42])
    assert list(pnc_check_letters(years, serials)) == [
        pnc_check_letter(y, s) for y, s in zip(years, serials, strict=True)
    ]


def test_prison_number_format():
    assert normalise_prison_number(" a1234bc") == "A1234BC"
    assert normalise_prison_number("A12345C") is None
